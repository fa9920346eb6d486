"""Every POST endpoint of the ingress and a media type it takes, for the tests that try
each one (limits, content types): one list, so an endpoint added is tried by all."""

from __future__ import annotations

POST_ENDPOINTS = {
    "/v1/channels/email": "message/rfc822",
    "/v1/channels/chat": "application/json",
    "/v1/channels/sms": "application/x-www-form-urlencoded",
    "/v1/channels/whatsapp": "application/x-www-form-urlencoded",
    "/v1/channels/messenger": "application/json",
    "/v1/channels/voice": "application/json",
    "/v1/channels/webform": "application/json",
    "/v1/actions": "application/json",
}
