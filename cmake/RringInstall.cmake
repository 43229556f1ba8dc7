# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: what `cmake --install build --prefix P` puts into P. Included at
# the end of the top-level CMakeLists.txt, once every target exists; the
# module and tools are installed by target name when they were built.
include(CMakePackageConfigHelpers)

set(RRING_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/rdmaring)
# The module lives apart from the libraries: it is loaded by a server
# (--loadmodule P/lib/rdmaring/rdmaring.so), never linked.
set(RRING_MODULE_DIR ${CMAKE_INSTALL_LIBDIR}/rdmaring)

# librdmaring.so, its public header, and the CMake package rdmaring::rdmaring.
set_target_properties(rdmaring PROPERTIES
	PUBLIC_HEADER ${PROJECT_SOURCE_DIR}/engine/include/rdmaring.h)
install(TARGETS rdmaring EXPORT rdmaringTargets
	LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
	PUBLIC_HEADER DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT rdmaringTargets NAMESPACE rdmaring::
	DESTINATION ${RRING_CMAKE_DIR})
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/rdmaringConfig.cmake.in
	${PROJECT_BINARY_DIR}/rdmaringConfig.cmake
	INSTALL_DESTINATION ${RRING_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/rdmaringConfigVersion.cmake
	COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/rdmaringConfig.cmake
	${PROJECT_BINARY_DIR}/rdmaringConfigVersion.cmake
	DESTINATION ${RRING_CMAKE_DIR})

# rdmaring.pc is written when installing, not when configuring: the prefix
# is the one given to `cmake --install --prefix`, known only then.
foreach(kind LIBDIR INCLUDEDIR)
	if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
		set(RRING_PC_${kind} "${CMAKE_INSTALL_${kind}}")
	else()
		set(RRING_PC_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
	endif()
endforeach()
set(RRING_PC_OUT ${PROJECT_BINARY_DIR}/install/rdmaring.pc)
install(CODE "
	set(RRING_PC_LIBDIR [[${RRING_PC_LIBDIR}]])
	set(RRING_PC_INCLUDEDIR [[${RRING_PC_INCLUDEDIR}]])
	set(PROJECT_VERSION [[${PROJECT_VERSION}]])
	configure_file([[${PROJECT_SOURCE_DIR}/engine/rdmaring.pc.in]]
		[[${RRING_PC_OUT}]] @ONLY)")
install(FILES ${RRING_PC_OUT} DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# Installed programs find libsoftverbs.so (linked by some benchmarks) in
# P/lib, wherever P is.
set(RRING_TOOL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}")
foreach(tool rring-bench rring-bench-ring rring-bench-poller
		rring-bench-transfer softverbs-bench rring-cli)
	if(TARGET ${tool})
		set_target_properties(${tool} PROPERTIES
			INSTALL_RPATH "${RRING_TOOL_RPATH}")
		install(TARGETS ${tool} RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
	endif()
endforeach()
# LD_PRELOAD=P/lib/libsoftverbs.so runs any verbs program without a NIC.
install(TARGETS softverbs LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR})
# Redis and Valkey refuse to load a module file without execute permission.
if(TARGET rdmaring_module)
	install(TARGETS rdmaring_module
		LIBRARY DESTINATION ${RRING_MODULE_DIR}
		PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ
			GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)
endif()
