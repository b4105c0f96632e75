# shellcheck shell=bash
# Link profiles of the satellite lab, sourced by testbed.sh. A profile is a set of linkemu
# options; callers override single options through the environment or extra arguments.
#
#   profile      RTT     down/up rate     buffer  loss (each way)
#   geo          600 ms  50/10 Mbit/s     1 BDP   0
#   leo           40 ms  100/20 Mbit/s    1 BDP   0
#   lossy        600 ms  50/10 Mbit/s     1 BDP   1 %
#   terrestrial  100 ms  10/10 Mbit/s     1 BDP   0.5 %
#   none         no emulator: sat is a plain router
#
# Environment overrides (applied after the profile, before extra arguments):
#   LOSS (both directions), DOWN_LOSS, UP_LOSS      probability, e.g. LOSS=0.03
#   DOWN_RATE, UP_RATE                              e.g. DOWN_RATE=20mbit
#   DELAY_MS (one way, both directions), DOWN_DELAY_MS, UP_DELAY_MS
#   BUFFER (both), DOWN_BUFFER, UP_BUFFER           e.g. BUFFER=100ms, BUFFER=0.5bdp
#   SEED                                            loss generator seed
# Extra arguments are linkemu options ("--down-rate 20mbit" or "--down-rate=20mbit"); one that
# names an option the profile already sets replaces its value.

TB_PROFILES="geo leo lossy terrestrial none"

# Sets TB_EMU_ARGS to linkemu's arguments for PROFILE plus overrides; an empty array for
# "none". Returns 1, with a message, for an unknown profile or a malformed extra argument.
tb_profile_args() {
    local profile=$1
    shift
    local -A opt=()
    case $profile in
        geo | lossy)
            opt=([down-rate]=50mbit [up-rate]=10mbit [down-delay-ms]=300 [up-delay-ms]=300)
            [[ $profile == lossy ]] && { opt[down-loss]=0.01; opt[up-loss]=0.01; } ;;
        leo) opt=([down-rate]=100mbit [up-rate]=20mbit [down-delay-ms]=20 [up-delay-ms]=20) ;;
        terrestrial)
            opt=([down-rate]=10mbit [up-rate]=10mbit [down-delay-ms]=50 [up-delay-ms]=50
                 [down-loss]=0.005 [up-loss]=0.005) ;;
        none)
            TB_EMU_ARGS=()
            return 0 ;;
        *)
            echo "testbed: unknown profile '$profile' (one of: $TB_PROFILES)" >&2
            return 1 ;;
    esac
    opt[down-buffer]=1bdp
    opt[up-buffer]=1bdp
    _tb_env_override opt
    while (($#)); do
        case $1 in
            --*=*) local k=${1%%=*}; opt[${k#--}]=${1#*=}; shift ;;
            --*)
                if (($# < 2)); then echo "testbed: $1 needs a value" >&2; return 1; fi
                opt[${1#--}]=$2
                shift 2 ;;
            *) echo "testbed: bad linkemu argument '$1' (expected --option value)" >&2; return 1 ;;
        esac
    done
    TB_EMU_ARGS=()
    local k
    for k in "${!opt[@]}"; do TB_EMU_ARGS+=("--$k" "${opt[$k]}"); done
}

# Applies the documented environment variables to the associative array named $1.
# shellcheck disable=SC2034  # o is a nameref: the caller reads what is set here
_tb_env_override() {
    local -n o=$1
    [[ -n ${LOSS:-} ]] && { o["down-loss"]=$LOSS; o["up-loss"]=$LOSS; }
    [[ -n ${DOWN_LOSS:-} ]] && o["down-loss"]=$DOWN_LOSS
    [[ -n ${UP_LOSS:-} ]] && o["up-loss"]=$UP_LOSS
    [[ -n ${DOWN_RATE:-} ]] && o["down-rate"]=$DOWN_RATE
    [[ -n ${UP_RATE:-} ]] && o["up-rate"]=$UP_RATE
    [[ -n ${DELAY_MS:-} ]] && { o["down-delay-ms"]=$DELAY_MS; o["up-delay-ms"]=$DELAY_MS; }
    [[ -n ${DOWN_DELAY_MS:-} ]] && o["down-delay-ms"]=$DOWN_DELAY_MS
    [[ -n ${UP_DELAY_MS:-} ]] && o["up-delay-ms"]=$UP_DELAY_MS
    [[ -n ${BUFFER:-} ]] && { o["down-buffer"]=$BUFFER; o["up-buffer"]=$BUFFER; }
    [[ -n ${DOWN_BUFFER:-} ]] && o["down-buffer"]=$DOWN_BUFFER
    [[ -n ${UP_BUFFER:-} ]] && o["up-buffer"]=$UP_BUFFER
    [[ -n ${SEED:-} ]] && o["seed"]=$SEED
    return 0
}
