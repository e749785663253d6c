"""The OpenAPI 3.0 document, built from the app's own route table. Pure.

Served at ``/api/openapi.json``. Each API route declares its parameters, body
and responses next to its handler (each ``web.routes`` module's ``ROUTES``); this module only
assembles them and holds the shared schemas.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

JSON: Final = "application/json"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    return {**schema, "nullable": True}


STR: Final[Schema] = {"type": "string"}
INT: Final[Schema] = {"type": "integer"}
NUM: Final[Schema] = {"type": "number"}
BOOL: Final[Schema] = {"type": "boolean"}


def obj(props: Mapping[str, Schema], required: Sequence[str] | None = None, *, extra: bool = True) -> Schema:
    schema: Schema = {"type": "object", "properties": dict(props),
                      "required": list(props if required is None else required)}
    if not extra:
        schema["additionalProperties"] = False
    return schema


def array(items: Schema) -> Schema:
    return {"type": "array", "items": items}


ANSWERS: Final[Schema] = {"type": "object", "additionalProperties": STR}
ROUTING_EFFECT: Final[Schema] = obj({
    "queues_before": INT, "queues_after": INT, "memberships_after": INT,
    "changed": array(obj({"answers": ANSWERS, "before": array(STR), "after": array(STR)})),
    "changed_count": INT, "profiles": INT})

SCHEMAS: Final[dict[str, Schema]] = {
    "Error": obj({"error": STR, "message": STR, "fields": array(obj({"path": STR, "message": STR}))},
                 ["error", "message"]),
    "Login": obj({"name": {"type": "string", "minLength": 1, "maxLength": 64},
                  "password": {"type": "string", "minLength": 1, "maxLength": 1024},
                  "client": {"type": "string", "enum": ["browser", "api"]}}, ["name", "password"], extra=False),
    "LoginResult": obj({"name": STR, "role": STR, "line": nullable(STR), "csrf": STR, "expires_at": STR,
                        "token": STR}, ["name", "role", "line", "csrf", "expires_at"]),
    "Me": obj({"name": STR, "role": STR, "line": nullable(STR), "expires_at": STR}),
    "Partner": obj({"id": STR, "name": STR, "lines": array(STR), "skills": {"type": "object",
                    "additionalProperties": INT}, "wrapup_seconds": INT}),
    "Line": obj({"line": STR, "partner": STR, "status": STR, "paused_reason": STR, "queues": array(STR)}),
    "Skill": obj({"skill": STR, "dimension": STR, "value": STR, "label": STR,
                  "partners": {"type": "object", "additionalProperties": INT}}),
    "QueueRules": obj({"version": INT, "strategy": STR, "ring_seconds": INT, "retry_seconds": INT,
                       "max_wait_seconds": INT, "skill_penalty_floor": INT, "general_queue": STR,
                       "escalation": array(obj({"after_seconds": INT, "max_penalty": INT}))}),
    "Hours": obj({"timezone": STR, "week": {"type": "object", "additionalProperties":
                  array(obj({"open": STR, "close": STR}))}, "holidays": {"type": "object"},
                  "closures": array({"type": "object"})}),
    "Wallboard": obj({"version": INT, "synced": BOOL, "as_of": NUM, "waiting": INT, "idle_queues": INT,
                      "longest_wait_seconds": INT,
                      "service_level_today": nullable(NUM), "queues": array({"type": "object"}),
                      "partners": array({"type": "object"}),
                      "answered_within_threshold_today": INT, "offered_today": INT, "waiting_past_threshold": INT,
                      "service_level_seconds": NUM, "lines_free": INT,
                      "levels": {"type": "object", "additionalProperties": {"type": "string",
                                                                            "enum": ["ok", "warn", "alarm"]}},
                      "alarms": array(STR), "thresholds": {"type": "object", "additionalProperties": NUM},
                      "agents": array(obj({"line": STR, "partner": STR, "status": STR,
                                           "seconds_in_status": nullable(INT), "calls_taken": INT,
                                           "paused_reason": STR, "calls_today": INT})),
                      # Two or more Asterisk nodes followed: each one's state (issue 13); empty for one node.
                      "nodes": array(obj({"node": STR, "synced": BOOL, "waiting": INT, "lines_logged_in": INT,
                                          "lines_busy": INT, "text": STR}))},
                     ["version", "synced", "as_of", "waiting", "longest_wait_seconds", "service_level_today",
                      "queues", "partners", "idle_queues", "lines_free", "levels", "alarms", "agents",
                      "nodes"]),
    "CallRecord": obj({"linkedid": STR, "start": STR, "src": STR, "clid": STR, "outcome": STR,
                       "queue": nullable(STR), "partner": nullable(STR), "line": nullable(STR)}),
    "Report": obj({"first": STR, "last": STR, "timezone": STR, "overall": {"type": "object"},
                   "by_day": {"type": "object"}, "by_partner": {"type": "object"}, "by_queue": {"type": "object"},
                   "callbacks": {"type": "object"},
                   "appointments": obj({"booked": INT, "by_partner": {"type": "object"},
                                        "by_office": {"type": "object"}, "office_partner": {"type": "object"}})},
                  ["first", "last", "timezone", "overall", "by_day", "by_partner", "by_queue"]),
    "AgentAction": obj({"line": STR, "action": STR, "reason": STR}, ["line", "action"]),
    "PauseBody": obj({"reason": {"type": "string", "maxLength": 64}}, [], extra=False),
    "TransferBody": obj({"partner": {"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,40}$"}}, ["partner"],
                        extra=False),
    "TransferResult": obj({"line": STR, "action": STR, "partner": STR, "queue": STR, "exten": STR},
                          ["line", "action", "partner", "queue", "exten"]),
    "ScreenPop": obj({"line": STR, "line_status": STR, "call_state": nullable(STR), "queue": nullable(STR),
                      "queue_label": nullable(STR), "number": STR, "clid": STR,
                      "answers": array(obj({"step": STR, "label": STR, "value": STR, "value_label": STR})),
                      "linkedid": nullable(STR)},
                     ["line", "line_status", "call_state"]),
    "MemoSection": obj({"id": INT, "title": STR, "body": STR, "needs": array(STR), "sectors": array(STR),
                        "updated_by": STR, "updated_at": STR}),
    "MemoInput": obj({"title": {"type": "string", "minLength": 1, "maxLength": 200},
                      "body": {"type": "string", "maxLength": 20000},
                      "needs": array({"type": "string", "maxLength": 32}),
                      "sectors": array({"type": "string", "maxLength": 32})}, ["title"], extra=False),
    "RulesDocument": obj({"document": {"type": "object"}}, ["document"], extra=False),
    "RulesPreview": obj({"valid": BOOL, "errors": array(obj({"path": STR, "message": STR})), "diff": array(STR),
                         "version": nullable(INT), "routing": nullable(ROUTING_EFFECT)}),
    "RoutingEffect": ROUTING_EFFECT,
    "RouteExplainBody": obj({
        "answers": obj({"need": STR, "sector": STR, "size": STR, "departement": STR}, [], extra=False),
        "document": nullable({"type": "object"})}, ["answers"], extra=False),
    "RouteExplanation": obj({
        "source": {"type": "string", "enum": ["running", "proposed"]}, "version": INT, "answers": ANSWERS,
        "partners": array(obj({"id": STR, "name": STR, "score": INT, "tier": INT,
                               "skills": {"type": "object", "additionalProperties": INT}})),
        "queue": STR, "priority": INT, "reason": STR,
        "escalation": array(obj({"after_seconds": INT, "max_penalty": INT, "partners": array(STR),
                                 "added": array(STR)}))}),
    "RulesOutcome": obj({"request_id": INT, "status": STR, "version": nullable(INT), "result": STR}),
    "Rules": obj({"active_version": INT, "document": {"type": "object"}, "history": array({"type": "object"})}),
    "User": obj({"name": STR, "role": STR, "line": nullable(STR), "disabled": BOOL, "created_at": STR}),
    "Definitions": {"type": "object", "additionalProperties": STR},
    # appointments and brochure (web.appointments_api)
    "AppointmentOffices": obj({
        "partner": obj({"id": STR, "name": STR, "brochure": BOOL}), "postcode": STR,
        "communes": array(obj({"code": STR, "name": STR})), "commune": nullable(obj({"code": STR, "name": STR})),
        "offices": array(obj({
            "id": STR, "name": STR, "address": STR, "postcode": STR, "commune": STR,
            "tier": {"type": "string", "enum": ["commune", "epci", "arrondissement", "departement", "region",
                                               "ailleurs"]},
            "tier_label": STR, "distance_km": nullable(NUM), "label": STR,
            "slots": array(obj({"start": STR, "label": STR}))}))}),
    "AppointmentBody": obj({
        "office": {"type": "string", "pattern": "^[a-z0-9_]{1,40}$"},
        "start": {"type": "string", "format": "date-time", "description": "a slot start, with its UTC offset"},
        "email": {"type": "string", "format": "email", "maxLength": 254},
        "linkedid": nullable({"type": "string", "pattern": "^[A-Za-z0-9_.-]{1,64}$"}),
        "postcode": {"type": "string", "pattern": "^[0-9]{5}$"},
        "commune": nullable({"type": "string", "pattern": "^[0-9][0-9AB][0-9]{3}$"})},
        ["office", "start", "email", "postcode"], extra=False),
    "AppointmentBooked": obj({
        "booking": obj({"id": INT, "partner": STR, "office": STR, "office_name": STR, "start": STR, "end": STR,
                        "linkedid": nullable(STR), "when": STR}),
        "email_sent": BOOL, "message": STR, "error": STR}, ["booking", "email_sent", "message"]),
    "BrochureBody": obj({"email": {"type": "string", "format": "email", "maxLength": 254},
                         "partner": {"type": "string", "pattern": "^[a-z][a-z0-9]{0,15}$"}}, ["email"], extra=False),
    "BrochureSent": obj({"partner": STR, "email_sent": BOOL, "message": STR}),
}


@dataclass(frozen=True)
class Param:
    name: str
    where: str = "query"  # query | path
    schema: Schema = field(default_factory=lambda: dict(STR))
    required: bool = False
    description: str = ""


@dataclass(frozen=True)
class Response:
    description: str
    schema: Schema | None = None
    content_type: str = JSON


@dataclass(frozen=True)
class ApiDoc:
    summary: str
    params: tuple[Param, ...] = ()
    body: Schema | None = None
    responses: Mapping[int, Response] = field(default_factory=dict)
    tag: str = "api"
    body_required: bool = True


def _error(text: str) -> Response:
    return Response(text, ref("Error"))


def operation(method: str, access: str, doc: ApiDoc) -> Schema:
    responses: dict[int, Response] = dict(doc.responses)
    if access != "public":
        responses.setdefault(401, _error("not logged in, or the session expired"))
        responses.setdefault(403, _error("the role does not allow it, or a CSRF check failed"))
    if doc.params or doc.body is not None:
        responses.setdefault(400, _error("invalid parameters or body"))
    op: Schema = {"summary": doc.summary, "tags": [doc.tag], "responses": {
        str(status): {"description": r.description, **(
            {"content": {r.content_type: {"schema": r.schema or {}}}} if r.content_type else {})}
        for status, r in sorted(responses.items())
    }}
    op["x-access"] = access
    if access != "public":
        op["security"] = [{"bearer": []}, {"cookie": []}]
    if doc.params:
        op["parameters"] = [
            {"name": p.name, "in": p.where, "required": p.required or p.where == "path", "schema": p.schema,
             **({"description": p.description} if p.description else {})}
            for p in doc.params
        ]
    if doc.body is not None:
        op["requestBody"] = {"required": doc.body_required, "content": {JSON: {"schema": doc.body}}}
    return op


def document(entries: Iterable[tuple[str, str, str, ApiDoc]], *, title: str, version: str) -> Schema:
    """``entries``: (method, path, access, doc) of each API route."""
    paths: dict[str, dict[str, Schema]] = {}
    for method, path, access, doc in entries:
        paths.setdefault(path, {})[method.lower()] = operation(method, access, doc)
    return {
        "openapi": "3.0.3",
        "info": {"title": title, "version": version,
                 "description": "aiguilleur admin, supervisor and advisor API. Log in with POST /api/login "
                                "(client=api returns a bearer token). Cookie sessions must send X-CSRF-Token "
                                "on every POST, PUT and DELETE."},
        "paths": paths,
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "cookie": {"type": "apiKey", "in": "cookie", "name": "aiguilleur_session"},
            },
        },
    }
