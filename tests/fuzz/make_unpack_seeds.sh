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

# Hostile entries, uncompressed so that the fuzzer can mutate them: made
# with Python's tarfile, which writes any entry type without creating it.
/usr/bin/python3 - "$out" <<'PY'
import io, sys, tarfile
out = sys.argv[1]
def entry(name, kind=tarfile.REGTYPE, data=b"x", link=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    return info, io.BytesIO(data) if kind == tarfile.REGTYPE else None
with tarfile.open(f"{out}/hostile.tar", "w", format=tarfile.PAX_FORMAT) as t:
    for info, data in (entry("ok.txt"), entry("../up.txt"), entry("/abs.txt"),
                       entry("lnk", tarfile.SYMTYPE, link="/etc/passwd"),
                       entry("hard", tarfile.LNKTYPE, link="ok.txt"),
                       entry("dev", tarfile.CHRTYPE), entry("fifo", tarfile.FIFOTYPE),
                       entry("OK.TXT"), entry("d", data=b"file"), entry("d/e")):
        t.addfile(info, data)
PY
