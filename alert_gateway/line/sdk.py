"""The LINE SDK's part of a send: its message models and its async client.

Imported only where LINE is configured (LineSender's construction, the webhook's route): the SDK
takes about 1.6 s and 30 MB to import, which a gateway without LINE, and each of its restarts,
would pay for nothing.
"""

from __future__ import annotations

from linebot.v3.messaging import (
    ApiException,
    AsyncApiClient,
    AsyncMessagingApi,
    ButtonsTemplate,
    Configuration,
    Message,
    PostbackAction,
    PushMessageRequest,
    ReplyMessageRequest,
    TemplateMessage,
    TextMessage,
)

from ..i18n import language_of, t
from .client import LineRefused
from .messages import ALERT_ANSWERS, ALT_LIMIT, SWEEP_ANSWERS, cut, postback_data, spec_of


class LineApi:
    """The SDK's messaging client; LINE's refusals become LineRefused."""

    def __init__(self, host: str, access_token: str, *, request_timeout: float) -> None:
        self._client = AsyncApiClient(Configuration(host=host, access_token=access_token))
        self._api = AsyncMessagingApi(self._client)
        self._timeout = request_timeout  # the SDK's own, beside the caller's asyncio.timeout

    async def close(self) -> None:
        await self._client.close()

    async def push(self, *, to: str, body: str | None, attempt_id: int,
                   retry_key: str) -> str | None:
        """Push an outbox row's messages; the id of the first message LINE sent, if it says."""
        request = PushMessageRequest(to=to, messages=messages(body, attempt_id))
        try:
            answer = await self._api.push_message_with_http_info(
                request, x_line_retry_key=retry_key, _request_timeout=self._timeout)
        except ApiException as exc:
            raise _refused(exc) from exc
        sent = answer.data.sent_messages if answer.data is not None else []
        return sent[0].id if sent else None

    async def reply(self, *, reply_token: str, texts: list[str]) -> None:
        """Answer a webhook event with up to five texts."""
        request = ReplyMessageRequest(reply_token=reply_token,
                                      messages=[TextMessage(text=text) for text in texts[:5]])
        try:
            await self._api.reply_message_with_http_info(request, _request_timeout=self._timeout)
        except ApiException as exc:
            raise _refused(exc) from exc


def _refused(exc: ApiException) -> LineRefused:
    return LineRefused(exc.status or 0, (exc.headers or {}).get("x-line-accepted-request-id"))


def buttons(lang: str, attempt_id: int, answers: tuple[str, ...]) -> list[PostbackAction]:
    """One postback button per answer, labelled in the recipient's language."""
    return [PostbackAction(label=t(lang, f"line.{a}"), data=postback_data(a, attempt_id),
                           display_text=t(lang, f"line.{a}")) for a in answers]


def messages(body: str | None, attempt_id: int) -> list[Message]:
    """The messages to push for an outbox row: an alert's text with accept / decline / arrived,
    or a sweep's whole message followed by its fine / help buttons."""
    spec = spec_of(body)
    text, lang = str(spec.get("text", "")), language_of(spec.get("language"))
    if spec.get("answers"):
        answers = tuple(a for a in spec["answers"] if a in SWEEP_ANSWERS)
        return [TextMessage(text=text), TemplateMessage(
            alt_text=cut(text, ALT_LIMIT), template=ButtonsTemplate(
                text=t(lang, "line.sweep_ask"), actions=buttons(lang, attempt_id, answers)))]
    if not spec.get("buttons"):
        return [TextMessage(text=text)]
    return [TemplateMessage(alt_text=cut(text, ALT_LIMIT), template=ButtonsTemplate(
        text=text, actions=buttons(lang, attempt_id, ALERT_ANSWERS)))]
