# Sourced (not run) by the scripts that build or check the kernel object:
# reads a kernel tree's configuration so that code-generation flags and
# objtool arguments follow the kernel the module is built for, as Kbuild's
# own follow it.
#   kconfig_load KDIR    read KDIR's configuration (once per script)
#   kconfig_on SYM...    true if any CONFIG_SYM is y (SYM without CONFIG_)
#   kconfig_val SYM      CONFIG_SYM's value, quotes removed ("" if unset)
# include/config/auto.conf is what Kbuild itself includes when it builds a
# module; .config is the fallback for a tree that was configured but never
# prepared (auto.conf is written by `make prepare`).

declare -A KCONFIG=()

kconfig_load() {
    local kdir=$1 f line
    f=$kdir/include/config/auto.conf
    [ -f "$f" ] || f=$kdir/.config
    [ -f "$f" ] || { echo "kconfig: no include/config/auto.conf or .config in $kdir" >&2; return 1; }
    KCONFIG=()
    while IFS= read -r line; do
        case $line in
            CONFIG_*=*) line=${line#CONFIG_}; KCONFIG[${line%%=*}]=${line#*=} ;;
        esac
    done <"$f"
}

kconfig_on() {
    local s
    for s in "$@"; do
        [ "${KCONFIG[$s]:-}" = y ] && return 0
    done
    return 1
}

kconfig_val() {
    local v=${KCONFIG[$1]:-}
    v=${v#\"}; v=${v%\"}
    printf '%s' "$v"
}
