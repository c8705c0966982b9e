#!/usr/bin/env bash
# The body of the compiler wrappers of the zig toolchain. multibuild/build/toolchain.py writes one
# wrapper per tool (cc, c++, gcc, g++, ar, ranlib, gfortran) into the toolchain's bin/
# directory: this file with its configuration line replaced by the values of MB_ZIG (the zig
# binary), MB_ZIG_TOOL (cc, c++, ar, ranlib or gfortran), MB_ZIG_TARGET
# (x86_64-linux-gnu.2.17: the glibc of the manylinux policy) and MB_ZIG_QUERY_TARGET (the same
# without the glibc version).
#
# A wrapper, not CC="zig cc -target ...": many build systems take CC as one program. Build
# systems pass gcc's flags; zig refuses some, and some mean nothing for this build. Rewritten:
#   -target X, --target=X          dropped: the toolchain's target (and glibc) decides
#   -Wl,-strip-all, -Wl,-s         -s, when linking (CFLAGS' default -Wl,-strip-all)
#   linker options zig's linker driver refuses (-Bsymbolic-functions, --exclude-libs, -Map,
#   --warn-common, --icf, --push-state, --dynamic-list, -O1, -rpath-link, ...)    dropped
#   -Wl,-h NAME                    -Wl,-soname,NAME
#   -march/-mcpu/-mtune x86-64-v2  zig's CPU names (x86_64_v2); -mtune=generic dropped
#   -Wp,-D..., -Wp,-U..., -Wp,-I...   passed directly (zig refuses -Wp)
#   -flto*, -ffat-lto-objects, -fuse-ld=*, -static-libgcc, -static-libstdc++   dropped (zig
#                                  links its own runtimes statically; no LTO objects in archives)
#   - (stdin) without -x           -x c (-x c++ for c++) first: zig cannot tell stdin's language
#   @FILE (response files)         expanded, so their flags are rewritten too
#   --version, -dumpversion, -dumpmachine, -print-*, a lone -v   run for MB_ZIG_QUERY_TARGET:
#                                  clang's driver refuses a glibc version in those probes
#   -Wl,--version, -Wl,-v          answered as LLD (zig links ELF with LLD; its own "zig ld"
#                                  answer sends numpy's vendored meson to a linker class it lacks)
# and added, as gcc would have them: -fno-sanitize=undefined first (zig cc turns UBSan on in
# builds without -O, as autotools builds with CFLAGS=-Wl,-strip-all are), -g0 unless a -g flag
# asks for debug information (zig cc emits it by default, gcc does not), and when linking, -L
# for each LIBRARY_PATH entry (configure_build.sh's BUILD_PREFIX/lib), then for a native build
# the system's library directories MB_ZIG_SYSTEM_LIBS, and -idirafter the system's include
# directories MB_ZIG_SYSTEM_INCLUDES (after zig's own glibc headers): a system zlib is found
# as gcc finds it. A cross build has neither, and -I the target Python's headers
# (MB_ZIG_PYTHON_INCLUDE) first: before those of this machine's Python that setuptools adds.
# A C++ link without a -g flag loses its debug sections afterwards (objcopy --strip-debug;
# the symbol table stays): zig links libc++ and libunwind statically, built with debug
# information that names zig's installation and the directory of the build that first
# needed them, which gcc's shared libstdc++ never puts into a wheel.
# shellcheck disable=SC2034
: "@MB_ZIG_CONFIG@"
# zig's own cache (libc stubs, libc++): the user's, as when the wrapper was written, even in a
# build environment without HOME.
export ZIG_GLOBAL_CACHE_DIR=${ZIG_GLOBAL_CACHE_DIR:-$MB_ZIG_CACHE}

function mb_zig_gfortran {
    # gfortran (zig has no Fortran): the machine's, the next one on PATH. With
    # MB_GFORTRAN_RUNTIME_LINKDIR (multibuild.build.toolchain's Fortran step: a gfortran runtime that
    # fits the policy), that directory comes first where a link looks for -lgfortran: in the
    # library search path gfortran reports (meson adds it to the C linker's command) and in
    # links gfortran makes itself.
    local self entry real="" dir=${MB_GFORTRAN_RUNTIME_LINKDIR:-} arg link=1
    self=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
    local IFS=:
    for entry in $PATH; do
        if [ -x "$entry/gfortran" ] && [ "$(cd "$entry" 2> /dev/null && pwd -P)" != "$self" ]
        then
            real=$entry/gfortran
            break
        fi
    done
    unset IFS
    if [ -z "$real" ]; then
        echo "error: gfortran: no GNU Fortran on PATH (zig compiles no Fortran; install it," \
            "e.g. apt-get install gfortran, or call install_gfortran in pre_build)" >&2
        exit 127
    fi
    [ -n "$dir" ] || exec "$real" "$@"
    for arg in "$@"; do
        case $arg in
            -print-search-dirs|--print-search-dirs)
                "$real" "$@" | sed "s|^libraries: =|libraries: =$dir:|"
                exit "${PIPESTATUS[0]}" ;;
            -c|-S|-E|-M|-MM|--version|-dumpversion|-dumpfullversion|-dumpmachine|-print-*)
                link="" ;;
        esac
    done
    if [ -n "$link" ]; then exec "$real" "-L$dir" "$@"; fi
    exec "$real" "$@"
}

case "${MB_ZIG_TOOL:-}" in
    ar|ranlib) exec "$MB_ZIG" "$MB_ZIG_TOOL" "$@" ;;
    gfortran) mb_zig_gfortran "$@" ;;
    cc|c++) ;;
    *) echo "error: zig wrapper: unknown tool '${MB_ZIG_TOOL:-}'" >&2; exit 2 ;;
esac

mb_zig_args=()
mb_zig_items=()
mb_zig_skip=0
mb_zig_strip=""
mb_zig_compile_only=""
mb_zig_query=""
mb_zig_lang=""
mb_zig_linker_version=""
mb_zig_debug=""
mb_zig_output=a.out
mb_zig_cxx=""
[ "$MB_ZIG_TOOL" != c++ ] || mb_zig_cxx=1

function mb_zig_linker_item {
    # Keep linker argument $1 (an item of -Wl,a,b or the value of -Xlinker) in mb_zig_items
    # unless zig's linker driver refuses it or it has no use here.
    local item=$1
    if [ "$mb_zig_skip" -gt 0 ]; then
        mb_zig_skip=$((mb_zig_skip - 1))
        return
    fi
    case $item in
        -s|-strip-all|--strip-all) mb_zig_strip=1 ;;
        --version|-v|-version) mb_zig_linker_version=1 ;;
        --exclude-libs|-Map|--Map|--dynamic-list|--retain-symbols-file|-rpath-link) mb_zig_skip=1 ;;
        -Bsymbolic-functions|--warn-common|--push-state|--pop-state|--emit-relocs|--icf=*|\
        -O*|--exclude-libs=*|-Map=*|--Map=*|--dynamic-list=*|--retain-symbols-file=*|\
        -rpath-link=*|"") ;;
        -h) mb_zig_items+=(-soname) ;;
        *) mb_zig_items+=("$item") ;;
    esac
}

function mb_zig_cpu {
    # Set mb_zig_cpu_name to zig's name of CPU $1 on x86: x86-64-v2 -> x86_64_v2,
    # skylake-avx512 -> skylake_avx512 (other architectures' names pass as given).
    case $MB_ZIG_TARGET in
        x86*) mb_zig_cpu_name=${1//-/_} ;;
        *) mb_zig_cpu_name=$1 ;;
    esac
}

while [ $# -gt 0 ]; do
    mb_zig_arg=$1
    shift
    case $mb_zig_arg in
        @*)
            if [ -f "${mb_zig_arg#@}" ]; then
                mapfile -d '' -t mb_zig_file < <(xargs printf '%s\0' < "${mb_zig_arg#@}")
                set -- "${mb_zig_file[@]}" "$@"
                continue
            fi ;;
        -target|--target) shift; continue ;;
        --target=*) continue ;;
        -Wl,*)
            mb_zig_items=()
            IFS=, read -r -a mb_zig_list <<< "${mb_zig_arg#-Wl,}"
            for mb_zig_item in "${mb_zig_list[@]}"; do mb_zig_linker_item "$mb_zig_item"; done
            if [ "${#mb_zig_items[@]}" -gt 0 ]; then
                printf -v mb_zig_joined '%s,' "${mb_zig_items[@]}"
                mb_zig_args+=("-Wl,${mb_zig_joined%,}")
            fi
            continue ;;
        -Xlinker)
            mb_zig_items=()
            mb_zig_linker_item "${1:-}"
            shift
            if [ "${#mb_zig_items[@]}" -gt 0 ]; then mb_zig_args+=(-Xlinker "${mb_zig_items[0]}"); fi
            continue ;;
        -Wp,*)
            IFS=, read -r -a mb_zig_list <<< "${mb_zig_arg#-Wp,}"
            for mb_zig_item in "${mb_zig_list[@]}"; do
                case $mb_zig_item in
                    -D*|-U*|-I*) mb_zig_args+=("$mb_zig_item") ;;
                    *) mb_zig_args+=("-Wp,$mb_zig_item") ;;
                esac
            done
            continue ;;
        -mtune=generic) continue ;;
        -march=*|-mcpu=*|-mtune=*)
            mb_zig_cpu "${mb_zig_arg#*=}"
            mb_zig_args+=("${mb_zig_arg%%=*}=$mb_zig_cpu_name")
            continue ;;
        -flto|-flto=*|-fno-lto|-ffat-lto-objects|-fno-fat-lto-objects|-fuse-linker-plugin|\
        -fno-use-linker-plugin|-fuse-ld=*|-static-libgcc|-static-libstdc++) continue ;;
        -c|-S|-E|-M|-MM) mb_zig_compile_only=1 ;;
        -g0) ;;
        -g|-g[1-3]|-ggdb*|-gdwarf*|-gline-tables-only|-gfull|-gsplit-dwarf) mb_zig_debug=1 ;;
        -lc++|-lstdc++) mb_zig_cxx=1 ;;
        -o)
            mb_zig_output=${1:-}
            mb_zig_args+=(-o "${1:-}")
            shift
            continue ;;
        -o*) mb_zig_output=${mb_zig_arg#-o} ;;
        -x)
            mb_zig_lang=1
            mb_zig_args+=(-x "${1:-}")
            shift
            continue ;;
        -x*) mb_zig_lang=1 ;;
        -)
            if [ -z "$mb_zig_lang" ]; then
                if [ "$MB_ZIG_TOOL" == c++ ]; then mb_zig_args+=(-x c++); else mb_zig_args+=(-x c); fi
            fi ;;
        --version|-dumpversion|-dumpfullversion|-dumpmachine|-print-*|--print-*) mb_zig_query=1 ;;
    esac
    mb_zig_args+=("$mb_zig_arg")
done

if [ -n "$mb_zig_linker_version" ]; then
    echo "LLD $MB_ZIG_LLD_VERSION (compatible with GNU linkers)"
    exit 0
fi
if [ "${#mb_zig_args[@]}" -eq 1 ] && [ "${mb_zig_args[0]}" == -v ]; then mb_zig_query=1; fi
if [ -n "$mb_zig_query" ]; then
    exec "$MB_ZIG" "$MB_ZIG_TOOL" -target "$MB_ZIG_QUERY_TARGET" "${mb_zig_args[@]}"
fi
if [ -n "${MB_ZIG_PYTHON_INCLUDE:-}" ]; then
    mb_zig_args=("-I$MB_ZIG_PYTHON_INCLUDE" "${mb_zig_args[@]}")
fi
IFS=: read -r -a mb_zig_list <<< "${MB_ZIG_SYSTEM_INCLUDES:-}"
for mb_zig_item in "${mb_zig_list[@]}"; do mb_zig_args+=(-idirafter "$mb_zig_item"); done
if [ -z "$mb_zig_compile_only" ]; then
    if [ -n "$mb_zig_strip" ]; then mb_zig_args+=(-s); fi
    IFS=: read -r -a mb_zig_list <<< "${LIBRARY_PATH:-}:${MB_ZIG_SYSTEM_LIBS:-}"
    for mb_zig_item in "${mb_zig_list[@]}"; do
        if [ -n "$mb_zig_item" ]; then mb_zig_args+=("-L$mb_zig_item"); fi
    done
fi
if [ -z "$mb_zig_debug" ]; then mb_zig_args=(-g0 "${mb_zig_args[@]}"); fi
if [ -n "$mb_zig_compile_only" ] || [ -n "$mb_zig_debug" ] || [ -n "$mb_zig_strip" ] \
        || [ -z "$mb_zig_cxx" ]; then
    exec "$MB_ZIG" "$MB_ZIG_TOOL" -target "$MB_ZIG_TARGET" -fno-sanitize=undefined \
        "${mb_zig_args[@]}"
fi
"$MB_ZIG" "$MB_ZIG_TOOL" -target "$MB_ZIG_TARGET" -fno-sanitize=undefined "${mb_zig_args[@]}" \
    || exit $?
# zig's own objcopy cannot strip a shared object yet ("unimplemented"): LLVM's (any
# architecture), else binutils'. Into a temporary name, then renamed: an interrupted strip
# leaves the linked file whole.
mb_zig_objcopy=$(command -v llvm-objcopy || command -v objcopy) || {
    echo "zig wrapper: no llvm-objcopy or objcopy on PATH: $mb_zig_output keeps the debug" \
        "information of zig's libc++ (apt-get install binutils)" >&2
    exit 0
}
if ! { "$mb_zig_objcopy" --strip-debug "$mb_zig_output" "$mb_zig_output.mb-strip" \
        && chmod --reference="$mb_zig_output" "$mb_zig_output.mb-strip" \
        && mv -f "$mb_zig_output.mb-strip" "$mb_zig_output"; }; then
    rm -f "$mb_zig_output.mb-strip"
    echo "error: zig wrapper: cannot strip the debug sections of $mb_zig_output" >&2
    exit 1
fi
