# Provides the imported targets clickstream::arrow, ::arrow_compute, ::arrow_acero, ::arrow_dataset
# and ::parquet.
#
# A system Arrow/Parquet C++ install is used when CMake finds one. Otherwise the headers and shared
# libraries shipped inside the pinned pyarrow wheel are used (its manylinux_2_28 builds use the new
# C++ ABI, like Debian's g++). CLICKSTREAM_PYTHON names the interpreter of the project's venv. The
# library directory is recorded as RPATH so build/clickstream runs without activating anything.

set(CLICKSTREAM_PYTHON "${CMAKE_SOURCE_DIR}/.venv/bin/python" CACHE FILEPATH
    "Python interpreter whose pyarrow provides Arrow C++ when no system install is found")

find_package(Arrow CONFIG QUIET)
find_package(Parquet CONFIG QUIET)
find_package(ArrowDataset CONFIG QUIET)

if(Arrow_FOUND AND Parquet_FOUND AND ArrowDataset_FOUND)
  message(STATUS "Arrow ${Arrow_VERSION}: system install")
  add_library(clickstream::arrow ALIAS Arrow::arrow_shared)
  add_library(clickstream::parquet ALIAS Parquet::parquet_shared)
  add_library(clickstream::arrow_dataset ALIAS ArrowDataset::arrow_dataset_shared)
  set(CLICKSTREAM_ARROW_RPATH "")
  return()
endif()

if(NOT EXISTS "${CLICKSTREAM_PYTHON}")
  message(FATAL_ERROR "No system Arrow C++ found and no Python at ${CLICKSTREAM_PYTHON}. "
                      "Run 'make setup' (it installs the pinned pyarrow into .venv).")
endif()

execute_process(
  COMMAND "${CLICKSTREAM_PYTHON}" -c
          "import pyarrow as pa; print(pa.__version__); print(pa.get_include()); print(pa.get_library_dirs()[0])"
  OUTPUT_VARIABLE _pyarrow_out RESULT_VARIABLE _pyarrow_rc OUTPUT_STRIP_TRAILING_WHITESPACE)
if(NOT _pyarrow_rc EQUAL 0)
  message(FATAL_ERROR "pyarrow is not importable from ${CLICKSTREAM_PYTHON}: run 'make setup'")
endif()
string(REPLACE "\n" ";" _pyarrow_out "${_pyarrow_out}")
list(GET _pyarrow_out 0 CLICKSTREAM_ARROW_VERSION)
list(GET _pyarrow_out 1 _arrow_include)
list(GET _pyarrow_out 2 _arrow_libdir)
message(STATUS "Arrow ${CLICKSTREAM_ARROW_VERSION}: from the pyarrow wheel in ${_arrow_libdir}")

# The wheel ships only versioned names (libarrow.so.2200); link those files directly, no symlinks.
string(REGEX MATCH "^[0-9]+" _arrow_major "${CLICKSTREAM_ARROW_VERSION}")
set(_so_suffix ".so.${_arrow_major}00")

function(_clickstream_import target lib)
  set(_path "${_arrow_libdir}/lib${lib}${_so_suffix}")
  if(NOT EXISTS "${_path}")
    message(FATAL_ERROR "${_path} is missing from the pyarrow wheel")
  endif()
  add_library(${target} SHARED IMPORTED GLOBAL)
  set_target_properties(${target} PROPERTIES IMPORTED_LOCATION "${_path}"
                                             INTERFACE_INCLUDE_DIRECTORIES "${_arrow_include}"
                                             INTERFACE_LINK_LIBRARIES "${ARGN}")
endfunction()

_clickstream_import(clickstream::arrow arrow)
_clickstream_import(clickstream::arrow_compute arrow_compute clickstream::arrow)
_clickstream_import(clickstream::arrow_acero arrow_acero clickstream::arrow_compute)
_clickstream_import(clickstream::parquet parquet clickstream::arrow)
_clickstream_import(clickstream::arrow_dataset arrow_dataset "clickstream::arrow_acero;clickstream::parquet")
set(CLICKSTREAM_ARROW_RPATH "${_arrow_libdir}")
