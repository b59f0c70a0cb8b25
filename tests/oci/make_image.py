#!/usr/bin/env python3
"""make_image.py ROOTFS_DIR OUT.tar NAME:TAG: a one-layer image of
ROOTFS_DIR as a `docker save` archive (manifest.json, the config, the
layer), which `ctr image import` and `podman load` take: no registry."""
import hashlib, io, json, os, sys, tarfile

rootfs, out, ref = sys.argv[1:4]
layer = io.BytesIO()
with tarfile.open(fileobj=layer, mode="w") as t:
    for name in sorted(os.listdir(rootfs)):
        t.add(os.path.join(rootfs, name), arcname=name)
layer = layer.getvalue()
diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
config = json.dumps({
    "architecture": "amd64", "os": "linux",
    "config": {"Env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"], "Cmd": ["sh"]},
    "rootfs": {"type": "layers", "diff_ids": [diff_id]},
}).encode()
config_name = hashlib.sha256(config).hexdigest() + ".json"
manifest = json.dumps([{"Config": config_name, "RepoTags": [ref],
                        "Layers": ["layer.tar"]}]).encode()
with tarfile.open(out, "w") as t:
    for name, data in (("layer.tar", layer), (config_name, config), ("manifest.json", manifest)):
        info = tarfile.TarInfo(name)
        info.size = len(data)
        t.addfile(info, io.BytesIO(data))
