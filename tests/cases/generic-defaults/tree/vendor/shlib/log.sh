# vendored shell helpers
log() {
	printf "%s\n" "$*" >&2
}
