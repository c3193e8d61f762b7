"""Write the go.mod of the wrapper module that builds the Kubernetes control plane.

k8s.io/kubernetes points every staging module (k8s.io/api, k8s.io/client-go, ...) at a
directory inside its own repository, so `go install k8s.io/kubernetes/cmd/...@vX` fails.
This wrapper requires k8s.io/kubernetes and replaces each staging module with its published
v0.Y.Z release. The list comes from k8s.io/kubernetes' own go.mod, so it stays complete
when a release adds a staging module.

Usage: python pin_staging.py v1.36.3   (run inside this folder, then `go mod tidy`)
"""

import json
import re
import subprocess
import sys
from pathlib import Path

STAGING_REPLACE = re.compile(r"^\s*(k8s\.io/[\w.-]+) => \./staging/src/", re.MULTILINE)
TOOLS = (
    "k8s.io/kubernetes/cmd/kube-apiserver",
    "k8s.io/kubernetes/cmd/kube-controller-manager",
    "k8s.io/kubernetes/cmd/kube-scheduler",
    "k8s.io/kubernetes/cmd/kubectl",
)


def staging_modules(kubernetes_version: str) -> list[str]:
    info = subprocess.run(
        ["go", "mod", "download", "-json", f"k8s.io/kubernetes@{kubernetes_version}"],
        check=True,
        capture_output=True,
        text=True,
    )
    gomod = Path(json.loads(info.stdout)["GoMod"]).read_text()
    return sorted(set(STAGING_REPLACE.findall(gomod)))


def render_gomod(kubernetes_version: str, modules: list[str]) -> str:
    staging_version = "v0." + kubernetes_version.removeprefix("v1.")
    replaces = "\n".join(f"\t{m} => {m} {staging_version}" for m in modules)
    tools = "\n".join(f"\t{t}" for t in TOOLS)
    return (
        "module mpijob-bench/toolchain/kubernetes\n\n"
        "go 1.26\n\n"
        f"require k8s.io/kubernetes {kubernetes_version}\n\n"
        f"tool (\n{tools}\n)\n\n"
        f"replace (\n{replaces}\n)\n"
    )


def main() -> None:
    version = sys.argv[1]
    Path("kubernetes/go.mod").write_text(render_gomod(version, staging_modules(version)))


if __name__ == "__main__":
    main()
