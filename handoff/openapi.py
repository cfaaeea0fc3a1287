"""The OpenAPI 3.1 document for ``/api/v1``, served at ``/api/v1/openapi.json``.

Written by hand, next to the routes, and checked by a test against the routes the app really
registers, so it cannot drift: a route without a description here fails the suite.
"""

from __future__ import annotations

from typing import Any

_ERROR = {"$ref": "#/components/schemas/Error"}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _op(
    summary: str,
    ok: str,
    *,
    body: dict[str, Any] | None = None,
    response: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    unsafe: bool = False,
    public: bool = False,
) -> dict[str, Any]:
    responses: dict[str, Any] = {ok: {"description": "Success"}}
    if response is not None:
        responses[ok].update(_json(response))
    if not public:
        responses["401"] = {"description": "Not signed in", **_json(_ERROR)}
    if unsafe:
        responses["403"] = {"description": "Missing or wrong X-CSRF-Token", **_json(_ERROR)}
    for status, why in (errors or {}).items():
        responses[status] = {"description": why, **_json(_ERROR)}
    operation: dict[str, Any] = {"summary": summary, "responses": responses}
    if body is not None:
        operation["requestBody"] = {"required": True, **_json(body)}
    if public:
        operation["security"] = []
    return operation


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "properties": properties}


_STRING = {"type": "string"}
_HANDOFF = {"$ref": "#/components/schemas/Handoff"}
_CHECK = _object(
    publishable={"type": "boolean"},
    problems={
        "type": "array",
        "items": _object(line={"type": "integer"}, rule=_STRING, message=_STRING),
    },
    languages={"type": "array", "items": _STRING},
)
_VERSION = _object(
    number={"type": "integer"},
    note=_STRING,
    status={"enum": ["published", "pending"]},
    author=_STRING,
    created_at=_STRING,
    approved_by={"type": ["string", "null"]},
    published_at={"type": ["string", "null"]},
)
_HANDOFF_ERRORS = {"403": "Someone else holds it", "404": "No such conversation"}

PATHS: dict[str, dict[str, Any]] = {
    "/api/v1/session": {
        "post": _op(
            "Sign in (answers the CSRF token to send on every change)",
            "200",
            body=_object(username=_STRING, password=_STRING, totp=_STRING),
            response=_object(csrf_token=_STRING, user={"$ref": "#/components/schemas/User"}),
            errors={"400": "Malformed body", "429": "Locked after repeated failures"},
            public=True,
        ),
        "delete": _op("Sign out", "204", unsafe=True),
    },
    "/api/v1/me": {
        "get": _op("The signed-in account", "200", response={"$ref": "#/components/schemas/User"})
    },
    "/api/v1/me/totp": {
        "post": _op(
            "Start two-factor enrolment; to replace an enrolled phone, send a current code "
            'as {"code"}',
            "200",
            response=_object(secret=_STRING, otpauth_uri=_STRING, qr_svg=_STRING),
            errors={"400": "Wrong code", "409": "Already enrolled and no code given"},
            unsafe=True,
        )
    },
    "/api/v1/me/totp/confirm": {
        "post": _op(
            "Finish two-factor enrolment with a current code",
            "200",
            body=_object(code=_STRING),
            errors={"400": "Wrong code"},
            unsafe=True,
        )
    },
    "/api/v1/me/availability": {
        "put": _op(
            "Go on or off call",
            "200",
            body=_object(available={"type": "boolean"}),
            response=_object(available={"type": "boolean"}),
            unsafe=True,
        )
    },
    "/api/v1/handoffs": {
        "get": _op(
            "The queue (most urgent first), what you hold, and what recently ended",
            "200",
            response={"type": "array", "items": _HANDOFF},
        )
    },
    "/api/v1/handoffs/{id}": {
        "get": _op(
            "One handoff with the script's summary (never an address)",
            "200",
            response=_HANDOFF,
            errors=_HANDOFF_ERRORS,
        )
    },
    "/api/v1/handoffs/{id}/claim": {
        "post": _op(
            "Claim a waiting conversation; exactly one of simultaneous claims wins",
            "200",
            response=_HANDOFF,
            errors={
                "409": "Someone else holds it, or you hold as many as allowed",
                "410": "It is over (the contact left or nobody answered in time)",
            },
            unsafe=True,
        )
    },
    "/api/v1/handoffs/next/claim": {
        "post": _op(
            "Take the most urgent waiting conversation (each of simultaneous callers gets a "
            "different one)",
            "200",
            response=_HANDOFF,
            errors={"404": "Nobody is waiting", "409": "You hold as many as allowed"},
            unsafe=True,
        )
    },
    "/api/v1/handoffs/{id}/messages": {
        "get": _op(
            "The transcript (after=N for messages after sequence N); full reads are audited",
            "200",
            response=_object(
                status=_STRING,
                messages={"type": "array", "items": {"$ref": "#/components/schemas/Message"}},
            ),
            errors=_HANDOFF_ERRORS,
        ),
        "post": _op(
            "Send a message to the contact",
            "201",
            body=_object(text=_STRING),
            errors={
                **_HANDOFF_ERRORS,
                "400": "Empty or too long",
                "409": "Outside the contact's safe-contact window (the message says when)",
                "410": "The contact left: nothing can be sent",
            },
            unsafe=True,
        ),
    },
    "/api/v1/handoffs/{id}/close": {
        "post": _op(
            "Close with an outcome; a last message is sent only if given",
            "200",
            body=_object(
                outcome={"type": "string", "description": "One of GET /api/v1/outcomes"},
                message=_STRING,
            ),
            response=_HANDOFF,
            errors={**_HANDOFF_ERRORS, "400": "Unknown outcome", "410": "Already over"},
            unsafe=True,
        )
    },
    "/api/v1/handoffs/{id}/transfer": {
        "post": _op(
            "Warm transfer to another available advocate, with a note",
            "200",
            body=_object(to=_STRING, note=_STRING),
            errors={**_HANDOFF_ERRORS, "400": "Not an available advocate with room"},
            unsafe=True,
        )
    },
    "/api/v1/handoffs/{id}/notes": {
        "get": _op("Private notes (encrypted at rest)", "200", errors=_HANDOFF_ERRORS),
        "post": _op(
            "Add a private note",
            "201",
            body=_object(text=_STRING),
            errors={**_HANDOFF_ERRORS, "400": "Empty or too long"},
            unsafe=True,
        ),
    },
    "/api/v1/advocates": {"get": _op("Accounts and whether each is available now", "200")},
    "/api/v1/outcomes": {"get": _op("The outcome tags a conversation can close with", "200")},
    "/api/v1/canned-responses": {
        "get": _op("Canned responses (language=xx to filter)", "200"),
        "post": _op(
            "Add a canned response (admins)",
            "201",
            body=_object(language=_STRING, title=_STRING, text=_STRING),
            errors={"400": "Invalid", "403": "Admins only"},
            unsafe=True,
        ),
    },
    "/api/v1/canned-responses/{id}": {
        "delete": _op(
            "Remove a canned response (admins)",
            "204",
            errors={"403": "Admins only", "404": "No such response"},
            unsafe=True,
        )
    },
    "/api/v1/users": {
        "get": _op("Every account (admins)", "200", errors={"403": "Admins only"}),
        "post": _op(
            "Create an account (admins; the same rules as `porchlight user add`)",
            "201",
            body=_object(username=_STRING, role={"enum": ["advocate", "admin"]}, password=_STRING),
            errors={"400": "Invalid", "403": "Admins only", "409": "Username taken"},
            unsafe=True,
        ),
    },
    # -- people (admins) ----------------------------------------------------------------------
    "/api/v1/users/{id}": {
        "patch": _op(
            "Disable, enable, promote or demote an account (admins). Disabling signs the person "
            "out everywhere and returns the conversations they hold to the queue",
            "200",
            body=_object(disabled={"type": "boolean"}, role={"enum": ["advocate", "admin"]}),
            errors={
                "400": "Invalid body",
                "403": "Admins only",
                "404": "No such account",
                "409": "Your own account, or the last enabled admin",
            },
            unsafe=True,
        ),
    },
    "/api/v1/users/{id}/password": {
        "post": _op(
            "Set a new temporary password (admins; at least 12 characters). Signs the person "
            "out everywhere and lifts a lockout",
            "204",
            body=_object(password=_STRING),
            errors={
                "400": "Invalid password",
                "403": "Admins only",
                "404": "No such account",
                "409": "Your own account",
            },
            unsafe=True,
        ),
    },
    "/api/v1/users/{id}/totp": {
        "delete": _op(
            "Reset two-factor (admins): signs the person out everywhere; they enrol again at "
            "their next sign-in",
            "204",
            errors={"403": "Admins only", "404": "No such account", "409": "Your own account"},
            unsafe=True,
        ),
    },
    "/api/v1/audit": {
        "get": _op(
            "The audit log, newest first (admins); filter with action=, actor= (a user id), "
            "target=, limit= (1-1000)",
            "200",
            errors={"400": "Bad limit", "403": "Admins only"},
        )
    },
    "/api/v1/rota": {
        "get": _op(
            "The weekly rota and overrides (TIMEZONE local times), who is expected on call now "
            "and who is available now",
            "200",
        )
    },
    "/api/v1/rota/{user_id}": {
        "put": _op(
            "Replace one person's weekly shifts (admins)",
            "200",
            body=_object(
                shifts={
                    "type": "array",
                    "items": _object(weekday={"type": "integer"}, start=_STRING, end=_STRING),
                }
            ),
            errors={"400": "Invalid shift", "403": "Admins only"},
            unsafe=True,
        )
    },
    "/api/v1/rota/overrides": {
        "post": _op(
            "Add a one-off override: on call, or off (admins)",
            "201",
            body=_object(
                user_id=_STRING, starts_at=_STRING, ends_at=_STRING, on_call={"type": "boolean"}
            ),
            errors={"400": "Invalid override", "403": "Admins only"},
            unsafe=True,
        )
    },
    "/api/v1/rota/overrides/{id}": {
        "delete": _op(
            "Remove an override (admins)",
            "204",
            errors={"403": "Admins only", "404": "No such override"},
            unsafe=True,
        )
    },
    # -- statistics (admins) -------------------------------------------------------------------
    "/api/v1/statistics": {
        "get": _op(
            "Counts for whole months (from=, to= as YYYY-MM; default this month): "
            "conversations, handoffs, reports; every count under 10 is null (suppressed)",
            "200",
            errors={"400": "Bad period", "403": "Admins only"},
        )
    },
    "/api/v1/statistics.csv": {
        "get": _op(
            "The same as CSV (section,item,value; suppressed counts read <10); audited",
            "200",
            errors={"400": "Bad period", "403": "Admins only"},
        )
    },
    # -- resource directory (admins) ----------------------------------------------------------
    "/api/v1/resources": {
        "get": _op(
            "The resource directory, by name (everyone signed in: it is public information)",
            "200",
            response={
                "type": "array",
                "items": _object(
                    id=_STRING,
                    name=_STRING,
                    category={"enum": ["hotline", "shelter", "legal", "counselling"]},
                    areas={"type": "array", "items": _STRING},
                    languages={"type": "array", "items": _STRING},
                    phone=_STRING,
                    hours=_STRING,
                ),
            },
        ),
        "post": _op(
            'Add a directory entry (admins); areas ["*"] serves everywhere',
            "201",
            body=_object(
                name=_STRING,
                category={"enum": ["hotline", "shelter", "legal", "counselling"]},
                areas={"type": "array", "items": _STRING},
                languages={"type": "array", "items": _STRING},
                phone=_STRING,
                hours=_STRING,
            ),
            errors={"400": "Invalid (the message names the field)", "403": "Admins only"},
            unsafe=True,
        ),
    },
    "/api/v1/resources/{id}": {
        "put": _op(
            "Replace one directory entry's fields (admins; the same body as adding)",
            "200",
            body=_object(
                name=_STRING,
                category={"enum": ["hotline", "shelter", "legal", "counselling"]},
                areas={"type": "array", "items": _STRING},
                languages={"type": "array", "items": _STRING},
                phone=_STRING,
                hours=_STRING,
            ),
            errors={
                "400": "Invalid (the message names the field)",
                "403": "Admins only",
                "404": "No such entry",
            },
            unsafe=True,
        ),
        "delete": _op(
            "Remove a directory entry (admins)",
            "204",
            errors={"403": "Admins only", "404": "No such entry"},
            unsafe=True,
        ),
    },
    "/api/v1/resources.csv": {
        "get": _op(
            "The directory as a CSV attachment (header name,category,areas,languages,phone,"
            "hours; ';' between areas or languages in a cell)",
            "200",
        ),
        "put": _op(
            "Replace the whole directory from a CSV file sent as text/csv (admins; at most "
            '1 MB and 5000 entries); all or nothing, answers {"imported": count}',
            "200",
            response=_object(imported={"type": "integer"}),
            errors={
                "400": "Not UTF-8, no header, or bad lines (the message lists each by number)",
                "403": "Admins only",
                "413": "Larger than 1 MB",
                "415": "Not sent as text/csv",
            },
            unsafe=True,
        ),
    },
    # -- script editor and settings (admins) ---------------------------------------------------
    "/api/v1/script": {
        "get": _op(
            "The live version, the draft (the live text until one is saved), versions waiting "
            "for approval, and whether SCRIPT_APPROVAL is on (admins)",
            "200",
            errors={"403": "Admins only"},
        )
    },
    "/api/v1/script/draft": {
        "put": _op(
            "Save the draft (it may have problems: it never runs); answers the problems found",
            "200",
            body=_object(source=_STRING),
            response=_CHECK,
            errors={"400": "No source", "403": "Admins only", "413": "Over 256 KiB"},
            unsafe=True,
        )
    },
    "/api/v1/script/check": {
        "post": _op(
            "Check a text as `porchlight script validate` does (plus the dashboard's alarm "
            "words): every problem with its line",
            "200",
            body=_object(source=_STRING),
            response=_CHECK,
            errors={"400": "No source", "403": "Admins only"},
            unsafe=True,
        )
    },
    "/api/v1/script/simulate": {
        "post": _op(
            "One step of a simulated conversation with a text; nothing is stored: send back "
            "the answered session to go on",
            "200",
            body=_object(
                source=_STRING,
                action={"enum": ["start", "text", "timeout", "wait"]},
                text=_STRING,
                minutes={"type": "number"},
                language=_STRING,
                channel={"enum": ["webchat", "sms", "whatsapp", "telegram"]},
                session={"type": ["object", "null"]},
            ),
            errors={
                "400": "Invalid step",
                "403": "Admins only",
                "409": "Session no longer fits the text: start again",
                "422": "The text is not a script",
            },
            unsafe=True,
        )
    },
    "/api/v1/script/publish": {
        "post": _op(
            "Publish the saved draft as the next version (pending with SCRIPT_APPROVAL); "
            "refused with every problem while any remains, and (409) when draft_saved_at "
            "is given and someone saved the draft since",
            "201",
            body=_object(note=_STRING, draft_saved_at=_STRING),
            response=_VERSION,
            errors={
                "400": "No note",
                "403": "Admins only",
                "409": "No draft saved",
                "422": "Problems remain (listed in 'problems')",
            },
            unsafe=True,
        )
    },
    "/api/v1/script/versions": {
        "get": _op("Every version, newest first (admins)", "200", errors={"403": "Admins only"})
    },
    "/api/v1/script/versions/{number}": {
        "get": _op(
            "One version's text and its diff against the version before (admins)",
            "200",
            errors={"403": "Admins only", "404": "No such version"},
        )
    },
    "/api/v1/script/versions/{number}/rollback": {
        "post": _op(
            "Publish this version's text again as the next version (same checks; admins)",
            "201",
            body=_object(note=_STRING),
            response=_VERSION,
            errors={"403": "Admins only", "404": "No such version", "422": "Problems remain"},
            unsafe=True,
        )
    },
    "/api/v1/script/versions/{number}/approve": {
        "post": _op(
            "Approve a pending version: it goes live (a second admin, not its author)",
            "200",
            response=_VERSION,
            errors={
                "403": "Admins only, and not the author",
                "404": "No such version",
                "409": "Not pending",
                "422": "Problems remain",
            },
            unsafe=True,
        )
    },
    "/api/v1/settings": {
        "get": _op(
            "The settings administrators may change: value in use, configured value, label",
            "200",
            errors={"403": "Admins only"},
        ),
        "put": _op(
            "Change settings (all or none; null returns one to the configured value); "
            "audit-logged with old and new values",
            "200",
            body={"type": "object"},
            errors={"400": "Invalid (each setting's reason in 'fields')", "403": "Admins only"},
            unsafe=True,
        ),
    },
    "/api/v1/events": {
        "get": _op(
            "Websocket of live events (no content: queue, offer, message, contact_left, "
            'transferred, escalated, availability); send {"type":"heartbeat"} every 30 s',
            "101",
        )
    },
    "/api/v1/openapi.json": {"get": _op("This document", "200", public=True)},
}

SCHEMAS: dict[str, Any] = {
    "Error": _object(error=_STRING, message=_STRING),
    "User": _object(
        id=_STRING,
        username=_STRING,
        role={"enum": ["advocate", "admin"]},
        totp_enrolled={"type": "boolean"},
        totp_enrolment_required={"type": "boolean"},
    ),
    "Handoff": _object(
        id=_STRING,
        status={"enum": ["waiting", "claimed", "closed", "left", "unanswered"]},
        priority={"enum": ["high", "normal"]},
        channel={"enum": ["webchat", "sms", "whatsapp", "telegram"]},
        alias={"type": "string", "examples": ["Contact 7F3A"]},
        waiting_since={"type": "string", "format": "date-time"},
        position={"type": ["integer", "null"]},
        mine={"type": "boolean"},
        offered_to_me={"type": "boolean"},
        outcome={"type": ["string", "null"]},
        summary={"type": ["object", "null"]},
    ),
    "Message": _object(
        seq={"type": "integer"},
        **{"from": {"enum": ["person", "bot", "advocate"]}},
        text=_STRING,
        at={"type": "string", "format": "date-time"},
    ),
}


def document() -> dict[str, Any]:
    """The whole OpenAPI document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Porchlight dashboard API",
            "version": "1",
            "description": (
                "Used by the advocates' dashboard. Sign in with POST /api/v1/session; send "
                "the session cookie and, on every POST/PUT/DELETE, the X-CSRF-Token it "
                'answered. Errors are {"error": code, "message": text}.'
            ),
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "porchlight_session"}
            },
        },
        "security": [{"session": []}],
        "paths": PATHS,
    }
