"""Ready Prefect automations on the package's events: the ones a user writes first.

- **Credits low → pause the scheduled inbox.** ``piktid.credits.low`` (a run's balance fell
  under its ``low_credits_threshold``) pauses a deployment, so the next scheduled pass
  does not start generations the account cannot pay for. Resume it by hand once credits
  are bought (``prefect deployment resume NAME`` or the UI's toggle).
- **A run with failed outputs → a notification.** ``piktid.run.outputs-failed`` sends the
  run's counts and first errors through a notification block the user names (Slack,
  e-mail, a webhook: any block with ``notify()``).

Installed with one command, idempotent (an automation of the same name is updated)::

    piktid-prefect automations install \\
        --pause-deployment piktid-process-new-images/piktid-inbox --notify-block my-slack

or from Python with :func:`install_automations`.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from uuid import UUID

from prefect.automations import (
    Automation,
    EventTrigger,
    PauseDeployment,
    Posture,
    SendNotification,
)
from prefect.client.orchestration import get_client
from prefect.events.schemas.automations import AutomationCore
from prefect.exceptions import ObjectNotFound

from piktid_prefect.tasks.events import CREDITS_LOW_EVENT, OUTPUTS_FAILED_EVENT

__all__ = [
    "CREDITS_LOW_AUTOMATION",
    "OUTPUTS_FAILED_AUTOMATION",
    "credits_low_pauses",
    "install_automations",
    "outputs_failed_notifies",
]

CREDITS_LOW_AUTOMATION = "piktid: credits low -> pause {deployment}"
OUTPUTS_FAILED_AUTOMATION = "piktid: outputs failed -> notify {block}"
_NOTIFICATION_BODY = (
    "PiktID run {{ event.resource['prefect.resource.name'] }}: "
    "{{ event.payload.failed }} of {{ event.payload.total }} outputs failed, "
    "{{ event.payload.not_started }} not started for lack of credits; "
    "{{ event.payload.delivered }} delivered to {{ event.payload.where }}.\n"
    "{{ event.payload.errors }}"
)


# Every `type` is given explicitly: Prefect's `update_automation` sends only the fields
# that were set (`exclude_unset`), and without its `type` the server read a
# `pause-deployment` action as the first kind it knows, `run-deployment`: a re-install
# then *ran* the inbox when credits were low (seen with Prefect 3.8.8 and 3.9.1).


def _each(event: str, resources: str) -> EventTrigger:
    """Fires once for each ``event`` of a resource matching ``resources``."""
    return EventTrigger(
        type="event",
        expect={event},
        match={"prefect.resource.id": resources},
        posture=Posture.Reactive,
        threshold=1,
        within=timedelta(0),
    )


def credits_low_pauses(deployment_id: UUID, deployment_name: str) -> AutomationCore:
    """Pause ``deployment_id`` when any run reports the account's credits low."""
    return AutomationCore(
        name=CREDITS_LOW_AUTOMATION.format(deployment=deployment_name),
        description="Stops scheduled PiktID work that the account can no longer pay for; "
        "resume the deployment by hand after buying credits.",
        trigger=_each(CREDITS_LOW_EVENT, "piktid.account.*"),
        actions=[
            PauseDeployment(type="pause-deployment", source="selected", deployment_id=deployment_id)
        ],
    )


def outputs_failed_notifies(block_document_id: UUID, block_name: str) -> AutomationCore:
    """Send a notification through ``block_document_id`` for each run with failed outputs."""
    return AutomationCore(
        name=OUTPUTS_FAILED_AUTOMATION.format(block=block_name),
        description="One notification per PiktID run in which some outputs failed.",
        trigger=_each(OUTPUTS_FAILED_EVENT, "piktid.run.*"),
        actions=[
            SendNotification(
                type="send-notification",
                block_document_id=block_document_id,
                subject="PiktID: outputs failed",
                body=_NOTIFICATION_BODY,
            )
        ],
    )


def install_automations(
    *, pause_deployment: str | None = None, notify_block: str | None = None
) -> list[Automation]:
    """Create or update the ready automations on the current Prefect API.

    Args:
        pause_deployment: ``flow-name/deployment-name`` to pause when credits run low.
        notify_block: ``block-type-slug/block-name`` of a notification block, e.g.
            ``slack-webhook/ops``, to notify of runs with failed outputs.

    Returns:
        The automations as stored on the server.

    Raises:
        LookupError: the deployment or block does not exist on the server.
        ValueError: ``notify_block`` is not ``slug/name``.
    """
    with get_client(sync_client=True) as client:
        wanted: list[AutomationCore] = []
        if pause_deployment:
            try:
                deployment = client.read_deployment_by_name(pause_deployment)
            except ObjectNotFound as exc:
                raise LookupError(f"no deployment {pause_deployment!r} on the server") from exc
            wanted.append(credits_low_pauses(deployment.id, pause_deployment))
        if notify_block:
            slug, _, name = notify_block.partition("/")
            if not name:
                raise ValueError(f"--notify-block takes block-type-slug/name, not {notify_block!r}")
            try:
                block = client.read_block_document_by_name(name=name, block_type_slug=slug)
            except ObjectNotFound as exc:
                raise LookupError(f"no block {notify_block!r} on the server") from exc
            wanted.append(outputs_failed_notifies(block.id, notify_block))
        return [_upsert(client, automation) for automation in wanted]


def _upsert(client: Any, automation: AutomationCore) -> Automation:
    existing = client.read_automations_by_name(automation.name)
    if existing:
        client.update_automation(existing[0].id, automation)
        automation_id = existing[0].id
    else:
        automation_id = client.create_automation(automation)
    stored: Automation = client.read_automation(automation_id)
    return stored
