# bash completion for coapd-ctl(8)
_coapd_ctl()
{
	local cur prev cmd i
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=${COMP_WORDS[COMP_CWORD-1]}
	if [ "$prev" = -s ]; then
		COMPREPLY=($(compgen -f -- "$cur"))
		return
	fi
	cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		-s) i=$((i + 1)) ;;
		-*) ;;
		*) cmd=${COMP_WORDS[i]}; break ;;
		esac
	done
	case $cmd in
	"")	COMPREPLY=($(compgen -W "reload status stats notify -s -h" -- "$cur")) ;;
	stats)	COMPREPLY=($(compgen -W "--json --prometheus" -- "$cur")) ;;
	*)	COMPREPLY=() ;;
	esac
}
complete -F _coapd_ctl coapd-ctl
