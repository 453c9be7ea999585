"""Which JDK `deploy/elasticsearch/run-local` runs the nodes on.

Elastic's images run their bundled recent JDK; from 21 on the node uses its native vector
library and Lucene's Panama code. So run-local prefers a JDK >= 21 from the JVM directory
when the default one is older, and an explicit ES_JAVA_HOME always wins.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.support.es_fixtures import RUN_LOCAL


def fake_jdk(root: Path, name: str, version: str | None, javac: bool = True) -> Path:
    """A directory shaped like a JDK: `release` names the version, bin/ holds the tools."""
    home = root / name
    (home / "bin").mkdir(parents=True)
    tools = ["java", "javac"] if javac else ["java"]
    for tool in tools:
        script = home / "bin" / tool
        script.write_text("#!/bin/sh\nexit 0\n")
        script.chmod(0o755)
    if version is not None:
        (home / "release").write_text(f'IMPLEMENTOR="test"\nJAVA_VERSION="{version}"\n')
    return home


def chosen(jvm_dir: Path, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("ES_JAVA_HOME", "JAVA_HOME")}
    result = subprocess.run(
        [str(RUN_LOCAL), "java-home"],
        env={**clean, "ES_JVM_DIR": str(jvm_dir), **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return result.stdout.strip()


def test_an_old_default_jdk_gives_way_to_the_newest_installed_one(tmp_path: Path) -> None:
    old = fake_jdk(tmp_path, "jdk-17", "17.0.15")
    fake_jdk(tmp_path, "jdk-21", "21.0.4")
    newest = fake_jdk(tmp_path, "jdk-25", "25.0.3")
    fake_jdk(tmp_path, "jre-26", "26", javac=False)  # no javac: cannot build the plugin
    assert chosen(tmp_path, JAVA_HOME=str(old)) == str(newest)


def test_a_default_jdk_of_21_or_newer_is_kept(tmp_path: Path) -> None:
    default = fake_jdk(tmp_path, "jdk-21", "21.0.4")
    fake_jdk(tmp_path, "jdk-25", "25.0.3")
    assert chosen(tmp_path, JAVA_HOME=str(default)) == str(default)


def test_the_old_default_stays_when_nothing_newer_is_installed(tmp_path: Path) -> None:
    old = fake_jdk(tmp_path, "jdk-17", "17.0.15")
    fake_jdk(tmp_path, "jdk-11", "11.0.2")
    assert chosen(tmp_path, JAVA_HOME=str(old)) == str(old)


def test_es_java_home_always_wins(tmp_path: Path) -> None:
    old = fake_jdk(tmp_path, "jdk-17", "17.0.15")
    fake_jdk(tmp_path, "jdk-25", "25.0.3")
    assert chosen(tmp_path, ES_JAVA_HOME=str(old), JAVA_HOME=str(old)) == str(old)
