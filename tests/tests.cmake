# Unit tests: every tests/test_*.c is one executable and one CTest test.
# MPI tests: every tests/mpi_*.c runs under mpiexec at 1, 2 and 3 ranks.
set(SERNET_MPI_ENV "OMPI_ALLOW_RUN_AS_ROOT=1;OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1;OMPI_MCA_rmaps_base_oversubscribe=1;OMP_NUM_THREADS=1")
set(SERNET_TEST_ENV "SERNET_SOURCE_DIR=${CMAKE_SOURCE_DIR};SERNET_SHARED_DIR=${CMAKE_SOURCE_DIR}/../shared;SERNET_BIN=$<TARGET_FILE:sernet>;SERNET_BENCH_BIN=$<TARGET_FILE:sernet-bench>")

# Module labels ("module:<name>") from the index table of tests/README.md (rows "| `file` | module |").
file(STRINGS ${CMAKE_SOURCE_DIR}/tests/README.md _sn_index REGEX "^\\| `[a-z0-9_]+\\.(c|sh)` \\| [a-z]+ \\|")
foreach(_row IN LISTS _sn_index)
  if(_row MATCHES "^\\| `([a-z0-9_]+)\\.(c|sh)` \\| ([a-z]+) \\|")
    set(SERNET_MODULE_${CMAKE_MATCH_1} "module:${CMAKE_MATCH_3}")
  endif()
endforeach()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/README.md)

file(GLOB SERNET_UNIT_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/test_*.c)
foreach(src ${SERNET_UNIT_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src} ${CMAKE_SOURCE_DIR}/tests/sn_test.c)
  target_link_libraries(${name} PRIVATE sernet_lib)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  add_test(NAME ${name} COMMAND ${name})
  # label "mpi": the test starts MPI (whose start-up allocations LeakSanitizer cannot attribute)
  file(READ ${src} _body)
  string(FIND "${_body}" "MPI_Init" _uses_mpi)
  set(_labels unit ${SERNET_MODULE_${name}})
  if(NOT _uses_mpi EQUAL -1)
    list(APPEND _labels mpi)
  endif()
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${SERNET_TEST_ENV};OMP_NUM_THREADS=2"
                       SKIP_RETURN_CODE 77 TIMEOUT 600 LABELS "${_labels}")
endforeach()

file(GLOB SERNET_MPI_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/mpi_*.c)
foreach(src ${SERNET_MPI_TESTS})
  get_filename_component(name ${src} NAME_WE)
  add_executable(${name} ${src} ${CMAKE_SOURCE_DIR}/tests/sn_test.c)
  target_link_libraries(${name} PRIVATE sernet_lib)
  target_include_directories(${name} PRIVATE ${CMAKE_SOURCE_DIR}/src ${CMAKE_SOURCE_DIR}/tests)
  foreach(np 1 2 3)
    add_test(NAME ${name}_np${np}
             COMMAND ${MPIEXEC_EXECUTABLE} ${MPIEXEC_NUMPROC_FLAG} ${np} --oversubscribe
                     ${MPIEXEC_PREFLAGS} $<TARGET_FILE:${name}> ${MPIEXEC_POSTFLAGS})
    set_tests_properties(${name}_np${np} PROPERTIES ENVIRONMENT "${SERNET_TEST_ENV};${SERNET_MPI_ENV}"
                         SKIP_RETURN_CODE 77 TIMEOUT 600 PROCESSORS ${np} LABELS "mpi;${SERNET_MODULE_${name}}")
  endforeach()
endforeach()

# Shell-driven tests (CLI behaviour, PyTorch parity): tests/*.sh, run with bash.
file(GLOB SERNET_SH_TESTS CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/*.sh)
foreach(src ${SERNET_SH_TESTS})
  get_filename_component(name ${src} NAME_WE)
  if(name MATCHES "^torch_" AND NOT SERNET_TORCH_TESTS)
    continue()
  endif()
  add_test(NAME ${name} COMMAND bash ${src})
  # a script may add labels with a line "# ctest-labels: a;b" (e.g. slow: Release build only)
  file(STRINGS ${src} _extra REGEX "^# ctest-labels: ")
  string(REPLACE "# ctest-labels: " "" _extra "${_extra}")
  set_tests_properties(${name} PROPERTIES ENVIRONMENT "${SERNET_TEST_ENV};${SERNET_MPI_ENV};SERNET_BUILD_DIR=${CMAKE_BINARY_DIR}"
                       SKIP_RETURN_CODE 77 TIMEOUT 900 WORKING_DIRECTORY ${CMAKE_BINARY_DIR}
                       LABELS "mpi;cli;${SERNET_MODULE_${name}};${_extra}")
  # each Slurm test starts a private Slurm (munged, slurmctld, slurmd) on this host: one at a time
  if(name MATCHES "^slurm_")
    set_tests_properties(${name} PROPERTIES RESOURCE_LOCK private_slurm)
  endif()
endforeach()

# The inspection API example (docs/examples/inspect_example.c): compiled against the installed
# headers only (include/sernet/) and linked with the shared library an outside program gets; run
# by tests/score_cli.sh. (tests/install_package.sh builds it again from an installed prefix.)
add_executable(inspect_example ${CMAKE_SOURCE_DIR}/docs/examples/inspect_example.c)
if(SERNET_SHARED)
  target_link_libraries(inspect_example PRIVATE sernet_shared)
else()
  target_link_libraries(inspect_example PRIVATE sernet_lib)
endif()
