"""A real S3 API server on loopback for the object-storage tests and `make bench`: moto's server from
the venv, in memory, on a free port, with request signing enforced.

Authentication is switched on after the first three (unauthenticated) requests, which create the one
IAM user whose access key the consumer gets; from then on, a wrong key is rejected as AWS would."""
from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request
from pathlib import Path

from helpers import ROOT, free_port

MOTO_SERVER = ROOT / ".venv" / "bin" / "moto_server"
REGION = "us-east-1"


class S3Server:
    def __init__(self, log_path: Path):
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        self.process: subprocess.Popen | None = None
        self.access_key = ""
        self.secret_key = ""

    def start(self, timeout: float = 60) -> None:
        env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3", "AWS_EC2_METADATA_DISABLED": "true"}
        with open(self.log_path, "w") as log:
            self.process = subprocess.Popen([str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(self.port)],
                                            stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.time() + timeout
        while not self._answers():
            if self.process.poll() is not None or time.time() > deadline:
                self.stop()
                raise RuntimeError(f"moto_server did not start:\n{self.log_path.read_text()}")
            time.sleep(0.1)
        self._create_user()

    def _answers(self) -> bool:
        try:
            # moto's own API: answers without counting as an S3 action.
            with urllib.request.urlopen(f"{self.endpoint}/moto-api/", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def _create_user(self) -> None:
        import boto3

        iam = boto3.client("iam", endpoint_url=self.endpoint, region_name=REGION,
                           aws_access_key_id="bootstrap", aws_secret_access_key="bootstrap")
        iam.create_user(UserName="lander")
        policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}
        iam.put_user_policy(UserName="lander", PolicyName="everything", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName="lander")["AccessKey"]
        self.access_key, self.secret_key = key["AccessKeyId"], key["SecretAccessKey"]

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def env(self) -> dict[str, str]:
        """What `clickstream` needs in its environment to reach this server the standard AWS ways."""
        return {"AWS_ACCESS_KEY_ID": self.access_key, "AWS_SECRET_ACCESS_KEY": self.secret_key,
                "AWS_ENDPOINT_URL": self.endpoint, "AWS_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}

    def filesystem(self):
        """pyarrow's own S3 client on the server: the independent reader."""
        from pyarrow import fs

        return fs.S3FileSystem(access_key=self.access_key, secret_key=self.secret_key, region=REGION,
                               endpoint_override=f"127.0.0.1:{self.port}", scheme="http")

    def boto3(self):
        import boto3

        return boto3.client("s3", endpoint_url=self.endpoint, region_name=REGION,
                            aws_access_key_id=self.access_key, aws_secret_access_key=self.secret_key)

    def create_bucket(self, name: str) -> None:
        self.boto3().create_bucket(Bucket=name)
