# find_package(corm): the targets corm::corm (static) and corm::corm_shared,
# and the client libraries of the three databases they use.
include(CMakeFindDependencyMacro)
find_dependency(PkgConfig)
find_dependency(Threads)
pkg_check_modules(SQLITE3 REQUIRED IMPORTED_TARGET sqlite3)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
pkg_check_modules(MARIADB REQUIRED IMPORTED_TARGET libmariadb)
include("${CMAKE_CURRENT_LIST_DIR}/cormTargets.cmake")
