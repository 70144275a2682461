#!/bin/sh
# make_unpack_seeds.sh DIR — small real packages for fuzz_unpack: tar,
# tar.gz, tar.zst and zip of a few files, made by the tools themselves.
set -eu
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
src=$(mktemp -d)
trap 'rm -rf "$src"' EXIT
mkdir -p "$src/pkg/sub"
printf '<Metadata/>\n' >"$src/pkg/metadata.xml"
printf 'hello\n' >"$src/pkg/sub/Päätös 1.txt"
(cd "$src" && tar -cf "$out/seed.tar" pkg &&
	gzip -c "$out/seed.tar" >"$out/seed.tar.gz" &&
	zstd -q -c "$out/seed.tar" >"$out/seed.tar.zst" &&
	zip -q -r "$out/seed.zip" pkg)
