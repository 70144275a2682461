# lib.sh — sourced by the benchmarks: their working folders.
#
# The root file system here is ext4 without a journal.  There the inode
# allocator skips every inode freed in the last 60 s, or the last 360 s
# while its inode-table block is dirty (fs/ext4/ialloc.c,
# recently_deleted()), and it checks them one by one for every file it
# creates.  After a few hundred thousand files were deleted, creating a
# file costs a scan of them: a `tar -x` of 100,000 files went from 13 s to
# 40–66 s, and so did whatever Sailo stored.  One benchmark's clean-up
# would thus slow the next one down, and the figures would say more about
# the order of the scripts than about Sailo.
#
# So a benchmark never deletes its folder: bench_trash renames it into
# build/bench-trash, and `make bench` empties that only after the last
# benchmark (bench/settle.sh).  Renaming frees no inode.

# Moves $1, if it exists, out of the way; sets up a fresh empty $1.
bench_fresh_dir() {
	bench_trash "$1"
	mkdir -p "$1"
}

# Moves $1 into build/bench-trash (emptied by bench/settle.sh), unless
# BENCH_KEEP is set.
bench_trash() {
	[ -e "$1" ] || return 0
	if [ "${2:-}" = end ] && [ -n "${BENCH_KEEP:-}" ]; then
		return 0	# kept for a look
	fi
	mkdir -p "$root/build/bench-trash"
	mv "$1" "$root/build/bench-trash/$(basename "$1").$(date +%s%N)"
}
