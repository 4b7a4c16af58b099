#!/bin/sh
# install.sh BUILD_DIR SOURCE_DIR — install the build into a temporary
# prefix, then build the quickstart against the installed copy, as a user
# would: with pkg-config (the shared library) and with find_package(corm)
# (the static one); run both; compile the public headers as C11 and C++.
set -eu
build=$1
src=$2
tmp=$(mktemp -d /tmp/corm-install-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cmake --install "$build" --prefix "$tmp/prefix" > "$tmp/install.log"
for f in lib/libcorm.a lib/libcorm.so lib/libcorm.so.0 include/corm/corm.h include/corm/model.h \
         lib/pkgconfig/corm.pc lib/cmake/corm/cormConfig.cmake lib/cmake/corm/cormTargets.cmake bin/corm \
         share/man/man3/corm_get.3 share/man/man3/corm_get_.3 share/man/man3/corm_yield_per.3; do
    [ -e "$tmp/prefix/$f" ] || { echo "not installed: $f"; exit 1; }
done
# a page for every public function and macro (the pages' names are the
# functions' names), each with its description
grep -q '^\.SH DESCRIPTION' "$tmp/prefix/share/man/man3/corm_session_new.3"
for fn in $(sed -n 's/^[a-z].*[ *]\(corm_[a-z_0-9]*\)(.*/\1/p' "$src/include/corm/corm.h"); do
    [ -s "$tmp/prefix/share/man/man3/$fn.3" ] || { echo "no man page for $fn"; exit 1; }
done
# only the public API leaves the shared library
if nm -D --defined-only "$tmp/prefix/lib/libcorm.so" | awk '{print $3}' | grep -v '^corm_' | grep .; then
    echo "libcorm.so exports symbols outside corm_*"; exit 1
fi
[ "$(readelf -d "$tmp/prefix/lib/libcorm.so" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')" = libcorm.so.0 ]

# pkg-config, the shared library
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
cc -std=c11 -Wall -Wextra -Werror "$src/examples/quickstart.c" -o "$tmp/qs-pc" \
    $(pkg-config --cflags --libs corm) -Wl,-rpath,"$tmp/prefix/lib"
ldd "$tmp/qs-pc" | grep -q "$tmp/prefix/lib/libcorm.so.0"
(cd "$tmp" && ./qs-pc "sqlite:///$tmp/pc.db" > pc.out)
grep -q . "$tmp/pc.out"

# find_package(corm), the static library
mkdir "$tmp/proj"
cp "$src/examples/quickstart.c" "$tmp/proj/"
cat > "$tmp/proj/CMakeLists.txt" <<'CM'
cmake_minimum_required(VERSION 3.16)
project(uses_corm C)
find_package(corm 0.1 REQUIRED)
add_executable(qs quickstart.c)
target_link_libraries(qs corm::corm)
CM
cmake -S "$tmp/proj" -B "$tmp/proj/build" -DCMAKE_PREFIX_PATH="$tmp/prefix" > "$tmp/cmake.log"
cmake --build "$tmp/proj/build" > "$tmp/build.log"
(cd "$tmp" && ./proj/build/qs "sqlite:///$tmp/cm.db" > cm.out)
cmp "$tmp/pc.out" "$tmp/cm.out"

# the headers, as C11 and as C++
printf '#include <corm/corm.h>\nint main(void) { return corm_errcode(NULL) == CORM_ENOMEM ? 0 : 1; }\n' > "$tmp/h.c"
cc -std=c11 -pedantic -Wall -Wextra -Werror -I"$tmp/prefix/include" -c "$tmp/h.c" -o "$tmp/h.o"
cp "$tmp/h.c" "$tmp/h.cpp"
c++ -std=c++17 -pedantic -Wall -Wextra -Werror -I"$tmp/prefix/include" "$tmp/h.cpp" -o "$tmp/hpp" \
    -L"$tmp/prefix/lib" -lcorm -Wl,-rpath,"$tmp/prefix/lib"
"$tmp/hpp"
echo "installed, built with pkg-config and find_package, run; headers clean as C11 and C++"
