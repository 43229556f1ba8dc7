# SPDX-License-Identifier: BSD-3-Clause
# rdmaring: dependency lookup that names the Debian package to install.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
	message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config")
endif()

# rring_require_pkg(PREFIX module debian-package): imported target PkgConfig::PREFIX
# or a configure error naming the package.
function(rring_require_pkg prefix module debpkg)
	pkg_check_modules(${prefix} QUIET IMPORTED_TARGET GLOBAL ${module})
	if(NOT ${prefix}_FOUND)
		message(FATAL_ERROR "pkg-config module '${module}' not found: "
			"apt-get install ${debpkg}")
	endif()
	message(STATUS "Found ${module} ${${prefix}_VERSION}")
endfunction()

# rring_optional_pkg(PREFIX module debian-package): like rring_require_pkg but
# only warns; callers test ${PREFIX}_FOUND.
function(rring_optional_pkg prefix module debpkg)
	pkg_check_modules(${prefix} QUIET IMPORTED_TARGET GLOBAL ${module})
	if(${prefix}_FOUND)
		message(STATUS "Found ${module} ${${prefix}_VERSION}")
	else()
		message(WARNING "'${module}' not found (apt-get install ${debpkg}, or "
			"./scripts/deps.sh bench); "
			"its benchmark peer is skipped")
	endif()
	set(${prefix}_FOUND ${${prefix}_FOUND} PARENT_SCOPE)
endfunction()
