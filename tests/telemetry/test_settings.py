"""Telemetry settings from the OTEL_* variables (sidecar.telemetry.settings)."""

from __future__ import annotations

import pytest

from sidecar.app import build_app
from sidecar.errors import ConfigError
from sidecar.telemetry.middleware import install_telemetry
from sidecar.telemetry.settings import Export, settings_from_env
from tests.telemetry.support import (
    SECRET,
    tm_config,
)

pytestmark = pytest.mark.timeout(60)


def test_no_endpoint_means_disabled():
    s = settings_from_env({})
    assert not s.enabled and s.traces is None and s.metrics is None
    assert not settings_from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}
    ).enabled


def test_endpoints_and_protocols():
    s = settings_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/", "OTEL_SERVICE_NAME": "pod-a"})
    assert s.enabled and s.service_name == "pod-a"
    assert s.traces == Export(endpoint="http://c:4318/v1/traces", protocol="http/protobuf")
    assert s.metrics == Export(endpoint="http://c:4318/v1/metrics", protocol="http/protobuf")
    g = settings_from_env(
        {
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317",
            "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
            "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT": "http://m:9/custom",
            "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
            "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.25",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=a%2Cb",
        }
    )
    assert g.traces == Export(endpoint="http://c:4317", protocol="grpc")
    assert g.metrics == Export(endpoint="http://m:9/custom", protocol="http/protobuf")
    assert (g.sampler, g.sampler_arg) == ("parentbased_traceidratio", 0.25)
    assert g.resource_attributes == {"deployment.environment": "prod", "team": "a,b"}
    only = settings_from_env(
        {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_METRICS_EXPORTER": "none"}
    )
    assert only.traces is not None and only.metrics is None


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4317"),
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "ftp://c"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "thrift"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/json"),
        ("OTEL_SDK_DISABLED", "maybe"),
        ("OTEL_TRACES_SAMPLER", "sometimes"),
        ("OTEL_TRACES_EXPORTER", "zipkin"),
        ("OTEL_RESOURCE_ATTRIBUTES", "a=1,novalue"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "-5"),
    ],
)
def test_invalid_values_name_the_variable(name: str, value: str, monkeypatch):
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", name: value}
    with pytest.raises(ConfigError, match=f"^{name}: "):
        settings_from_env(env)
    # The installer reads the environment when the app is built: start-up stops there.
    for key, val in env.items():
        monkeypatch.setenv(key, val)
    with pytest.raises(ConfigError, match=f"^{name}: "):
        build_app(tm_config(), installers=[install_telemetry])


def test_sampler_arg_out_of_range():
    with pytest.raises(ConfigError, match="^OTEL_TRACES_SAMPLER_ARG: "):
        settings_from_env({"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"})


def test_endpoint_error_does_not_echo_credentials():
    with pytest.raises(ConfigError) as info:
        settings_from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": f"user:{SECRET}@collector"})
    assert SECRET not in str(info.value)


def test_grpc_without_the_extra_is_a_clear_start_up_error(monkeypatch):
    import importlib.util

    import sidecar.telemetry.settings as settings_module

    real = importlib.util.find_spec

    def without_grpc(name, *args):
        return None if name.startswith("opentelemetry.exporter.otlp.proto.grpc") else real(name, *args)

    monkeypatch.setattr(settings_module.importlib.util, "find_spec", without_grpc)
    env = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}
    with pytest.raises(ConfigError, match=r"OTEL_EXPORTER_OTLP_PROTOCOL: .*pip install 'sidecar\[grpc\]'"):
        settings_from_env(env)
    assert settings_from_env({**env, "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf"}).enabled
