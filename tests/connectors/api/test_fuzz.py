"""A bounded schemathesis run against the OpenAPI document that a real ``vigil api`` process
serves on loopback, with the real broker behind it: no answer is a 5xx, every answer is one
the document names, and every error is the documented ``{"error", "detail"}`` JSON body."""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import positive_data_acceptance

from tests.connectors.helpers import make_topics
from vigil.stack import KafkaBroker
from vigil.testing import api_process, free_port
from vigil_app.settings import KafkaSettings, TopicSettings, VigilSettings

KEY = "fuzz-ingest-key"
# each operation is fuzzed with a key of the role it needs, so the run reaches past the gate
KEYS = {"/v1/poi": "fuzz-poi-key", "/v1/admin": "fuzz-admin-key", "/v1/frames": KEY}


def key_for(path: str) -> str:
    return next((key for prefix, key in KEYS.items() if path.startswith(prefix)), KEY)


EXAMPLES = 100  # per operation and mode: bounded, a few seconds per route


@pytest.fixture(scope="module")
def api_url(kafka_broker: KafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("fuzz")
    cfg = VigilSettings(
        kafka=KafkaSettings(bootstrap_servers=kafka_broker.bootstrap),
        topics=TopicSettings(prefix=f"t{uuid.uuid4().hex[:10]}"),
        data_dir=data_dir,
    )
    make_topics(cfg)
    port = free_port()
    env = {
        **os.environ,
        "VIGIL_KAFKA__BOOTSTRAP_SERVERS": cfg.kafka.bootstrap_servers,
        "VIGIL_TOPICS__PREFIX": cfg.topics.prefix,
        "VIGIL_DATA_DIR": str(data_dir),
        "VIGIL_ACCESS__INGEST_KEYS": json.dumps([KEY]),
        "VIGIL_ACCESS__POI_KEYS": json.dumps([KEYS["/v1/poi"]]),
        "VIGIL_ACCESS__ADMIN_KEYS": json.dumps([KEYS["/v1/admin"]]),
        # the run posts hundreds of requests per key: the rate limit is tested elsewhere
        "VIGIL_INGEST__UPLOADS_PER_S": "100000",
        "VIGIL_INGEST__UPLOAD_BURST": "100000",
    }
    with api_process(env, port, data_dir / "api.log") as url:
        yield url


@pytest.fixture(scope="module")
def api_schema(api_url: str) -> Any:
    return schemathesis.openapi.from_url(f"{api_url}/openapi.json", headers={"X-API-Key": KEY})


def error_body_is_documented_shape(ctx: Any, response: Any, case: Any) -> None:
    """Every 4xx/5xx is JSON ``{"error": str, "detail": ...}`` (the API's one error shape)."""
    if response.status_code < 400:
        return
    try:
        body = json.loads(response.content)
    except ValueError:
        raise AssertionError(
            f"{response.status_code} is not JSON: {response.content[:200]!r}"
        ) from None
    if not (isinstance(body, dict) and isinstance(body.get("error"), str) and "detail" in body):
        raise AssertionError(f"{response.status_code} body is not {{error, detail}}: {body}")


def operations(api_schema: Any) -> list[Any]:
    ops = [result.ok() for result in api_schema.get_all_operations()]
    return sorted(ops, key=lambda op: op.label)


def fuzz(op: Any, mode: GenerationMode, api_url: str) -> None:
    """One operation, ``EXAMPLES`` cases, with the key of the role it needs."""
    key = key_for(op.path)

    @given(case=op.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    def run(case: Any) -> None:
        # the valid key, unless the negative case is about leaving it out (then: 401)
        keyed = mode is GenerationMode.POSITIVE or "X-API-Key" in (case.headers or {})
        case.call_and_validate(
            base_url=api_url,
            headers={"X-API-Key": key} if keyed else None,
            additional_checks=[error_body_is_documented_shape],
            # schema-valid bytes are rarely an image: "binary" cannot say "a JPEG", so a
            # 400/415 for a well-formed request is right, not a failure
            excluded_checks=[positive_data_acceptance],
            timeout=60,
        )

    run()


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_survives_fuzzing(api_schema: Any, api_url: str, mode: GenerationMode) -> None:
    """Every operation the document serves, positive (valid per the schema) and negative
    (invalid) inputs; schemathesis' own checks (no 5xx, documented status, content type and
    body) plus the error shape. (Driven with Hypothesis directly: schemathesis' pytest plugin
    does not run on pytest 9.)"""
    labels = []
    for op in operations(api_schema):
        try:
            fuzz(op, mode, api_url)
        except Unsatisfiable:  # negative mode: an operation with no input to make invalid
            if mode is not GenerationMode.NEGATIVE or list(op.iter_parameters()):
                raise
            continue
        labels.append(op.label)
    assert {"POST /v1/frames", "POST /v1/poi", "POST /v1/admin/revocations"} <= set(labels), labels
