"""Both clients offer every endpoint, each with the endpoint's parameters and documentation."""

from __future__ import annotations

import inspect

import pytest

from hookwire.client import AsyncClient, Client
from hookwire.client import endpoints as api

ENDPOINTS = sorted(
    name
    for name, value in vars(api).items()
    if inspect.isfunction(value)
    and not name.startswith("_")
    and value.__module__ == api.__name__
    and str(inspect.signature(value).return_annotation).startswith("Call[")
)


def test_the_endpoints_are_found() -> None:
    assert {"create_tenant", "list_webhook_logs", "create_portal_link"} <= set(ENDPOINTS)


@pytest.mark.parametrize("client", [Client, AsyncClient])
@pytest.mark.parametrize("name", ENDPOINTS)
def test_every_endpoint_is_a_documented_method(client: type[object], name: str) -> None:
    endpoint = getattr(api, name)
    method = getattr(client, name)
    assert method.__doc__ == endpoint.__doc__
    parameters = list(inspect.signature(method).parameters.values())
    assert parameters[0].name == "self"
    assert parameters[1:] == list(inspect.signature(endpoint).parameters.values())
    assert inspect.iscoroutinefunction(method) == (client is AsyncClient)
    if name.startswith("list_"):
        iterator = getattr(client, name.replace("list_", "iter_", 1))
        returns = str(inspect.signature(iterator).return_annotation)
        assert returns.startswith("AsyncIterator[" if client is AsyncClient else "Iterator[")


def test_a_bound_method_shows_the_parameters_a_caller_passes() -> None:
    client = Client("http://127.0.0.1:9", "hw_any-key")
    try:
        signature = inspect.signature(client.update_tenant)
    finally:
        client.close()
    assert str(signature) == "(tenant_id: 'str', *, name: 'str') -> 'Tenant'"
