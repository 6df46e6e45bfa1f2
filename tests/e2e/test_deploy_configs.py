"""The deployment files an ops team installs: nginx accepts deploy/nginx.conf."""

import os
import shutil
import subprocess

import pytest

from .conftest import NGINX_MISSING, ROOT


@pytest.mark.skipif(shutil.which("nginx") is None, reason=NGINX_MISSING)
def test_nginx_accepts_deploy_nginx_conf(tmp_path):
    conf = os.path.join(ROOT, "deploy", "nginx.conf")
    result = subprocess.run(
        ["nginx", "-t", "-p", f"{tmp_path}/", "-c", conf, "-e", str(tmp_path / "error.log")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr
