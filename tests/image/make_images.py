#!/usr/bin/env python3
"""Builds test images from a root file system directory (the built-in
busybox rootfs): an OCI image layout with two tags and a docker save
archive of the first.

    make_images.py ROOTFS OUT [NLAYERS [SALT]]

OUT/oci (tags "test" and "other"), OUT/archive.tar. The "test" image:
  layer 1 (gzip): ROOTFS, /etc/motd "base", /etc/gone, /opaque/{old,sub/deep},
      /data/keep, a setuid root file and a file of uid 1000
  layer 2 (plain tar): whiteout /etc/.wh.gone, opaque /opaque with
      /opaque/new, /etc/motd "layer2"
  layer 3 (zstd when the zstd program is there, else gzip): /app/entry.sh
  config: Entrypoint /app/entry.sh, Cmd default-cmd, Env, WorkingDir /data
"other" shares layers 1 and 2 and has its own third layer. With NLAYERS,
also OUT/many: an OCI layout ("many") of the rootfs plus NLAYERS-1 small
layers, each adding /layers/N. SALT (in a file of every layer) makes the
layers of one test run its own in a shared store.
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile

MTIME = 1700000000


def tar_bytes(add):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        add(t)
    return buf.getvalue()


def add_file(t, name, data, mode=0o644, uid=0, gid=0):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    info.uid, info.gid = uid, gid
    info.mtime = MTIME
    t.addfile(info, io.BytesIO(data))


def add_dir(t, name, mode=0o755):
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = mode
    info.mtime = MTIME
    t.addfile(info)


def root_owned(info):
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    info.mtime = MTIME
    return info


def sha(data):
    return hashlib.sha256(data).hexdigest()


def zstd(data):
    if not shutil.which("zstd"):
        return None
    return subprocess.run(["zstd", "-q", "-c"], input=data, stdout=subprocess.PIPE,
                          check=True).stdout


class Layout:
    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
        with open(os.path.join(path, "oci-layout"), "w") as f:
            json.dump({"imageLayoutVersion": "1.0.0"}, f)
        self.manifests = []

    def blob(self, data):
        h = sha(data)
        with open(os.path.join(self.path, "blobs", "sha256", h), "wb") as f:
            f.write(data)
        return {"digest": "sha256:" + h, "size": len(data)}

    def image(self, tag, layers, config):
        """layers: (tar, compressed blob, media type)"""
        config = dict(config)
        config["rootfs"] = {"type": "layers", "diff_ids": ["sha256:" + sha(t) for t, _, _ in layers]}
        cfg = dict(self.blob(json.dumps(config).encode()),
                   mediaType="application/vnd.oci.image.config.v1+json")
        descs = [dict(self.blob(b), mediaType=m) for _, b, m in layers]
        manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "config": cfg, "layers": descs}
        m = dict(self.blob(json.dumps(manifest).encode()),
                 mediaType="application/vnd.oci.image.manifest.v1+json",
                 annotations={"org.opencontainers.image.ref.name": tag})
        self.manifests.append(m)
        return config

    def close(self):
        with open(os.path.join(self.path, "index.json"), "w") as f:
            json.dump({"schemaVersion": 2, "manifests": self.manifests}, f)


GZ = "application/vnd.oci.image.layer.v1.tar+gzip"
ZST = "application/vnd.oci.image.layer.v1.tar+zstd"
TAR = "application/vnd.oci.image.layer.v1.tar"

ENTRY = b"""#!/bin/sh
echo "entry:$*"
if [ $# -gt 0 ] && [ "$1" != default-cmd ]; then exec "$@"; fi
"""


def compressed(tar, kind):
    if kind == "zstd":
        z = zstd(tar)
        if z is not None:
            return (tar, z, ZST)
    if kind == "tar":
        return (tar, tar, TAR)
    return (tar, gzip.compress(tar, mtime=0), GZ)


def main():
    rootfs, out = sys.argv[1], sys.argv[2]
    nmany = int(sys.argv[3]) if len(sys.argv) > 3 else 0
    salt = sys.argv[4].encode() if len(sys.argv) > 4 else b""
    os.makedirs(out, exist_ok=True)

    def base(t):
        t.add(rootfs, arcname=".", filter=root_owned)
        add_file(t, "etc/salt", salt)
        add_file(t, "etc/motd", b"base\n")
        add_file(t, "etc/gone", b"gone\n")
        add_dir(t, "opaque")
        add_file(t, "opaque/old", b"old\n")
        add_dir(t, "opaque/sub")
        add_file(t, "opaque/sub/deep", b"deep\n")
        add_dir(t, "data")
        add_file(t, "data/keep", b"keep\n")
        add_file(t, "bin/suidfile", b"#!/bin/sh\necho suid\n", mode=0o4755)
        add_file(t, "data/users", b"owned by 1000\n", uid=1000, gid=1000)

    def second(t):
        add_file(t, "etc/salt2", salt)
        add_file(t, "etc/.wh.gone", b"")
        add_dir(t, "opaque")
        add_file(t, "opaque/.wh..wh..opq", b"")
        add_file(t, "opaque/new", b"new\n")
        add_file(t, "etc/motd", b"layer2\n")

    def third(t):
        add_file(t, "etc/salt3", salt)
        add_dir(t, "app")
        add_file(t, "app/entry.sh", ENTRY, mode=0o755)

    def third_other(t):
        add_file(t, "etc/salt3", salt)
        add_file(t, "etc/other", b"other\n")

    l1 = compressed(tar_bytes(base), "gzip")
    l2 = compressed(tar_bytes(second), "tar")
    l3 = compressed(tar_bytes(third), "zstd")
    l3o = compressed(tar_bytes(third_other), "gzip")
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Entrypoint": ["/app/entry.sh"], "Cmd": ["default-cmd"],
                         "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "IMG_VAR=from-image",
                                 "OVERRIDE=image"],
                         "WorkingDir": "/data"}}
    oci = Layout(os.path.join(out, "oci"))
    full = oci.image("test", [l1, l2, l3], config)
    oci.image("other", [l1, l2, l3o],
              {"architecture": "amd64", "os": "linux",
               "config": {"Cmd": ["/bin/cat", "/etc/other"], "User": "nobody",
                          "WorkingDir": "/tmp",
                          "Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin", "OTHER_VAR=other"]}})
    oci.close()

    # docker save (the layout before Docker 25): <hex>.json, <id>/layer.tar
    cfg_bytes = json.dumps(full).encode()
    cfg_name = sha(cfg_bytes) + ".json"
    names = []
    with tarfile.open(os.path.join(out, "archive.tar"), "w") as t:
        add_file(t, cfg_name, cfg_bytes)
        for tar, _, _ in (l1, l2, l3):
            name = sha(tar) + "/layer.tar"
            add_dir(t, sha(tar))
            add_file(t, name, tar)
            names.append(name)
        add_file(t, "manifest.json", json.dumps(
            [{"Config": cfg_name, "RepoTags": ["nook-test:latest"], "Layers": names}]).encode())

    if nmany:
        many = Layout(os.path.join(out, "many"))

        def numbered(i):
            def add(t):
                add_dir(t, "layers")
                add_file(t, "layers/%d" % i, b"%d %s\n" % (i, salt))
            return add
        def bottom(t):
            t.add(rootfs, arcname=".", filter=root_owned)
            add_file(t, "etc/salt", salt)
        layers = [compressed(tar_bytes(bottom), "gzip")]
        layers += [compressed(tar_bytes(numbered(i)), "gzip") for i in range(2, nmany + 1)]
        many.image("many", layers, {"architecture": "amd64", "os": "linux",
                                    "config": {"Cmd": ["/bin/ls", "/layers"]}})
        many.close()


if __name__ == "__main__":
    main()
