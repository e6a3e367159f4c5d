"""The registry's server factory."""

from __future__ import annotations

from registry.health import platform_database
from registry.servicer import RegistryService
from registry.settings import Settings
from udb.crypto import SecretBox
from udb.registry.v1 import registry_pb2, registry_pb2_grpc
from udb.server import Registration, Server, build_server

SERVICE_NAME = registry_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name


async def create_server(settings: Settings, address: str = "127.0.0.1:0") -> tuple[Server, int]:
    """The registry bound to ``address``, not started; starting it opens and migrates the database."""
    # Fails here, before anything listens, when the key is missing or malformed.
    box = SecretBox.from_settings(settings.encryption_key, settings.encryption_key_old)
    servicer = RegistryService(settings, box)
    return build_server(
        settings,
        [Registration(registry_pb2_grpc.add_RegistryServiceServicer_to_server, servicer, SERVICE_NAME)],
        address=address,
        on_start=[servicer.start],
        on_stop=[servicer.close],
        readiness={"platform-database": platform_database(lambda: servicer.store.pool)},
    )
