# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: wire protocol codec and transfer state machines (pure logic, no verbs).
# Included by engine/CMakeLists.txt, or by tests/protocol when the engine
# does not include it yet; CMAKE_CURRENT_LIST_DIR is engine/ in both cases.
if(NOT TARGET rring_wire)
	add_library(rring_wire STATIC
		${CMAKE_CURRENT_LIST_DIR}/wire_msg.c
		${CMAKE_CURRENT_LIST_DIR}/wire_send.c
		${CMAKE_CURRENT_LIST_DIR}/wire_recv.c)
	set_target_properties(rring_wire PROPERTIES POSITION_INDEPENDENT_CODE ON)
	target_include_directories(rring_wire PUBLIC ${CMAKE_CURRENT_LIST_DIR})
endif()
