# The two commands a person needs: `make demo` and `make test`.
# Both install what is missing (Debian packages) before building with CMake.

JOBS      ?= $(shell nproc 2>/dev/null || echo 2)
BUILD_DEPS = gcc make cmake pkg-config python3 libsqlite3-dev libpq-dev libmariadb-dev
WEBAPP_DEPS = libmicrohttpd-dev libjansson-dev
TEST_DEPS  = $(BUILD_DEPS) $(WEBAPP_DEPS) curl g++ libcmocka-dev valgrind postgresql mariadb-server galera-4 rsync

.PHONY: all demo webapp install test test-fast test-asan test-valgrind test-pg test-mariadb test-cluster test-oom test-fuzz fuzz fuzz-uow bench bench-callgrind clean

all: build/Makefile
	cmake --build build -j $(JOBS)

build/Makefile:
	@scripts/deps.sh $(BUILD_DEPS)
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORM_TESTS=ON >/dev/null

# The seed's quickstart on an embedded SQLite file, build/demo/users.db.
demo:
	@scripts/deps.sh $(BUILD_DEPS)
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORM_TESTS=OFF >/dev/null
	cmake --build build -j $(JOBS) --target quickstart
	mkdir -p build/demo
	cd build/demo && ../quickstart sqlite:///users.db

# examples/webapp, the JSON API (libmicrohttpd, jansson), on
# http://127.0.0.1:$(PORT)/ with its schema upgraded first: a SQLite file,
# build/webapp-data/webapp.db, unless DATABASE_URL names another database.
PORT ?= 5000
webapp:
	@scripts/deps.sh $(BUILD_DEPS) $(WEBAPP_DEPS)
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORM_TESTS=OFF >/dev/null
	cmake --build build -j $(JOBS) --target webapp
	mkdir -p build/webapp-data
	cd examples/webapp && export DATABASE_URL="$${DATABASE_URL:-sqlite:///$(CURDIR)/build/webapp-data/webapp.db}" && \
		../../build/webapp db upgrade && PORT=$(PORT) exec ../../build/webapp

# Every test, three times: plain, under ASan+UBSan, and under valgrind; then
# what runs on PostgreSQL so far, plain and under ASan+UBSan, against a
# throwaway server (scripts/with-pg.sh).
test: test-fast test-asan test-valgrind test-pg test-mariadb test-cluster test-fuzz

test-fast:
	@scripts/deps.sh $(TEST_DEPS)
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORM_TESTS=ON >/dev/null
	cmake --build build -j $(JOBS)
	cd build && ctest --output-on-failure -j $(JOBS) -LE 'valgrind|postgresql|mariadb|cluster|galera'

test-asan:
	@scripts/deps.sh $(TEST_DEPS)
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCORM_SANITIZE=ON -DCORM_TESTS=ON >/dev/null
	cmake --build build-asan -j $(JOBS)
	cd build-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
		ctest --output-on-failure -j $(JOBS) -LE 'valgrind|postgresql|mariadb|cluster|galera'

test-valgrind:
	@scripts/deps.sh $(TEST_DEPS)
	cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORM_TESTS=ON >/dev/null
	cmake --build build -j $(JOBS)
	cd build && ctest --output-on-failure -j $(JOBS) -L valgrind

test-pg: test-fast test-asan
	scripts/with-pg.sh sh -c 'cd build && ctest --output-on-failure -L postgresql && \
		cd ../build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -L postgresql'

# The same on a throwaway MariaDB (scripts/with-mariadb.sh): the binaries
# listed in tests/CMakeLists.txt (CORM_MY_TESTS), plainly and under ASan+UBSan.
test-mariadb: test-fast test-asan
	scripts/with-mariadb.sh sh -c 'cd build && ctest --output-on-failure -L mariadb && \
		cd ../build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -L mariadb'

# Past one server (issue 10): a PostgreSQL primary with two streaming
# replicas (scripts/with-pg-replicas.sh) for each of the read-replica and
# the failover tests, plainly and under ASan+UBSan (a cluster for each run:
# the tests stop a replica, or the primary).
# Then a three-node MariaDB Galera cluster (scripts/with-galera.sh), once
# for both builds.
CLUSTER_TESTS = replicas failover
test-cluster: test-fast test-asan
	for t in $(CLUSTER_TESTS); do \
		scripts/with-pg-replicas.sh sh -c "cd build && ctest --output-on-failure -R '^cluster_$$t\$$'" && \
		scripts/with-pg-replicas.sh sh -c "cd build-asan && ASAN_OPTIONS=detect_leaks=1 \
			ctest --output-on-failure -R '^cluster_$$t\$$'" || exit 1; \
	done
	scripts/with-galera.sh sh -c 'cd build && ctest --output-on-failure -L galera && \
		cd ../build-asan && ASAN_OPTIONS=detect_leaks=1 ctest --output-on-failure -L galera'

# Out of memory at every allocation of every workload (tests/test_oom_sweep.c),
# under ASan+UBSan, on SQLite, PostgreSQL and MariaDB; make test runs every
# allocation on SQLite and every 4th (PostgreSQL), 8th (MariaDB) or 5th
# (valgrind) elsewhere.
test-oom: test-asan
	cd build-asan && CORM_OOM_STEP=1 tests/test_oom_sweep
	scripts/with-pg.sh sh -c 'cd build-asan && CORM_OOM_STEP=1 ../scripts/pg-db.sh tests/test_oom_sweep'
	scripts/with-mariadb.sh sh -c 'cd build-asan && CORM_OOM_STEP=1 ../scripts/my-db.sh tests/test_oom_sweep'

# The libFuzzer targets in fuzz/ (clang, ASan+UBSan): the URL parser, the
# migration-file parser, the value readers, filter_by and expression trees,
# reflection and db check over hostile schemas. make fuzz runs each for
# FUZZ_SECONDS from the committed seeds (fuzz/corpus/<target>; what it
# finds new stays in build-fuzz/corpus), make test-fuzz (in make test) for
# FUZZ_CI_SECONDS; a finding is written to build-fuzz/ and fails the run.
FUZZ_TARGETS    = url revision values query schema
FUZZ_SECONDS    ?= 600
FUZZ_CI_SECONDS ?= 10
FUZZ_DEPS       = $(BUILD_DEPS) clang libclang-rt-14-dev
build-fuzz/Makefile:
	@scripts/deps.sh $(FUZZ_DEPS)
	CC=clang cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCORM_FUZZ=ON \
		-DCORM_TESTS=OFF >/dev/null
fuzz test-fuzz: build-fuzz/Makefile
	@scripts/deps.sh $(FUZZ_DEPS)
	cmake --build build-fuzz -j $(JOBS)
	for t in $(FUZZ_TARGETS); do \
		mkdir -p build-fuzz/corpus/$$t && \
		build-fuzz/fuzz/fuzz_$$t -max_total_time=$(if $(filter fuzz,$@),$(FUZZ_SECONDS),$(FUZZ_CI_SECONDS)) \
			-print_final_stats=1 -artifact_prefix=build-fuzz/$$t- \
			build-fuzz/corpus/$$t fuzz/corpus/$$t 2>build-fuzz/fuzz_$$t.log || \
			{ tail -40 build-fuzz/fuzz_$$t.log; exit 1; }; \
		echo "fuzz_$$t: $$(grep -o 'stat::number_of_executed_units: *[0-9]*' build-fuzz/fuzz_$$t.log | grep -o '[0-9]*$$') inputs, no finding"; \
	done

# The randomized differential test of the unit of work at length: FUZZ_SEEDS
# seeds of FUZZ_OPS operations each, from FUZZ_FIRST (make test runs 2,000 of 80).
FUZZ_SEEDS ?= 200000
FUZZ_FIRST ?= 1
FUZZ_OPS   ?= 120
fuzz-uow:
	@scripts/deps.sh $(TEST_DEPS)
	cmake -S . -B build-asan -DCMAKE_BUILD_TYPE=Debug -DCORM_SANITIZE=ON -DCORM_TESTS=ON >/dev/null
	cmake --build build-asan -j $(JOBS) --target test_uow_random
	CORM_FUZZ_SEEDS=$(FUZZ_SEEDS) CORM_FUZZ_FIRST=$(FUZZ_FIRST) CORM_FUZZ_OPS=$(FUZZ_OPS) \
		build-asan/tests/test_uow_random

# The BENCH.md workloads at N = 100,000, corm against hand-written sqlite3
# code (with scan_ro: the scan as corm_read_only copies), 1,000,000 users
# read whole and streamed (bench/stream.sh), then the same workloads on a
# throwaway PostgreSQL against hand-written libpq code and on a throwaway
# MariaDB against hand-written Connector/C code (BENCH_PG_N users,
# BENCH_PG_RUNS runs: a run there takes about a minute, the baselines'
# round trip per row, and five are needed, as the short workloads, scan,
# relations and lazy, swing by a third from one run to the next), and last
# the scaling table on SQLite at 10,000, 100,000 and 1,000,000 users
# (bench/scale.sh, BENCH_SIZES).
BENCH_PG_N ?= 100000
BENCH_PG_RUNS ?= 5
BENCH_SIZES ?= 10000 100000 1000000
bench:
	@scripts/deps.sh $(BUILD_DEPS) $(TEST_DEPS) python3
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCORM_TESTS=OFF >/dev/null
	cmake --build build-bench -j $(JOBS) --target bench_corm bench_baseline bench_baseline_pg bench_baseline_my
	bench/run.sh build-bench
	bench/stream.sh build-bench 1000000
	scripts/with-pg.sh sh -c 'BENCH_URL=$$CORM_TEST_URL bench/run.sh build-bench $(BENCH_PG_RUNS) $(BENCH_PG_N)'
	scripts/with-mariadb.sh sh -c 'BENCH_URL=$$CORM_TEST_URL bench/run.sh build-bench $(BENCH_PG_RUNS) $(BENCH_PG_N)'
	bench/scale.sh build-bench "$(BENCH_SIZES)"

# The same workloads as instruction counts under callgrind (N=20000).
bench-callgrind:
	@scripts/deps.sh $(BUILD_DEPS) valgrind
	cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=Release -DCORM_TESTS=OFF >/dev/null
	cmake --build build-bench -j $(JOBS) --target bench_corm bench_baseline bench_baseline_pg bench_baseline_my
	bench/callgrind.sh build-bench
	scripts/with-pg.sh sh -c 'BENCH_URL=$$CORM_TEST_URL bench/callgrind.sh build-bench 5000'
	scripts/with-mariadb.sh sh -c 'BENCH_URL=$$CORM_TEST_URL bench/callgrind.sh build-bench 5000'

# The libraries (static and shared), headers, corm.pc, the CMake package
# and the corm tool under PREFIX (cmake --install does the same).
PREFIX ?= /usr/local
install:
	@scripts/deps.sh $(BUILD_DEPS)
	cmake -S . -B build-install -DCMAKE_BUILD_TYPE=Release -DCORM_TESTS=OFF \
		-DCMAKE_INSTALL_PREFIX=$(PREFIX) >/dev/null
	cmake --build build-install -j $(JOBS) --target corm corm_shared corm_tool
	cmake --install build-install

clean:
	rm -rf build build-asan build-bench build-install
