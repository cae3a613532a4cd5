"""POST /v1/expressions/check: an expression parsed and type-checked in its context (member,
purchase or line) with the declared attributes, as the save routes check it, answered
{valid, expression, understood} or {valid: false, error: {line, column, message, suggestion}};
bad bodies, roles, and that a check changes nothing (not even the audit log).
"""

import pytest

from conftest import COUNTED_TABLES, ROLES, assert_error, unique

PATH = "/v1/expressions/check"
MANAGERS = {"admin", "manager"}  # PERM_PROGRAM_MANAGE, as for editing rules
# Tables a check might touch if it wrongly wrote: it must touch none.
TABLES = COUNTED_TABLES + ["segments", "attribute_definitions", "earning_rules"]


def check(server, expression, context=None, key="admin"):
    body = {"expression": expression}
    if context is not None:
        body["context"] = context
    r = server.post(PATH, json=body, key=key)
    assert r.status_code == 200, r.text
    return r.json()


def invalid(server, expression, context=None):
    """The error of an expression that must not be valid, its shape asserted."""
    answer = check(server, expression, context)
    assert set(answer) == {"valid", "error"}, answer
    assert answer["valid"] is False
    error = answer["error"]
    assert set(error) == {"line", "column", "message", "suggestion"}, error
    assert error["message"].startswith(f"line {error['line']}, col {error['column']}: "), error
    return error


# ---- valid expressions --------------------------------------------------------------------------

@pytest.mark.parametrize("expression, context, understood", [
    ('tier = "gold" and purchases_count > 3', None, '(and (= tier "gold") (> purchases_count 3))'),
    ('tier = "gold" and purchases_count > 3', "member", '(and (= tier "gold") (> purchases_count 3))'),
    ('amount_cents >= 5000 and any(lines, category = "shoes")', "purchase",
     '(and (>= amount_cents 5000) (any lines (= category "shoes")))'),
    ('channel = "web" and tier = "gold"', "purchase", '(and (= channel "web") (= tier "gold"))'),
    ('category = "shoes" and quantity >= 2', "line", '(and (= category "shoes") (>= quantity 2))'),
])
def test_a_valid_expression_is_understood(server, expression, context, understood):
    answer = check(server, expression, context)
    assert answer == {"valid": True, "expression": expression, "understood": understood}


def test_declared_attributes_are_known_in_every_context(server):
    name = unique("a")
    r = server.post("/v1/attributes", json={"name": name, "type": "string"})
    assert r.status_code == 201, r.text
    for context in ("member", "purchase"):
        answer = check(server, f'attributes.{name} = "dog"', context)
        assert answer["valid"] is True, answer
    misspelt = name[:-1]
    error = invalid(server, f'attributes.{misspelt} = "dog"', "purchase")
    assert error["suggestion"] == name
    assert error["column"] == len("attributes.") + 1


# ---- errors: where, what, and the name meant -------------------------------------------------------

def test_a_purchase_field_in_a_member_expression_says_where(server):
    error = invalid(server, 'tier = "gold" and amount_cents >= 5000', "member")
    assert (error["line"], error["column"]) == (1, 19)
    assert "amount_cents" in error["message"] and "purchase rules" in error["message"]
    assert error["suggestion"] is None
    # The default context is member.
    assert invalid(server, "amount_cents >= 5000") == invalid(server, "amount_cents >= 5000", "member")


def test_a_line_field_outside_any_is_refused(server):
    error = invalid(server, 'category = "shoes"', "purchase")
    assert (error["line"], error["column"]) == (1, 1)
    assert "any(lines" in error["message"]


@pytest.mark.parametrize("expression, context, line, column, suggestion", [
    ("amount_cent >= 5000", "purchase", 1, 1, "amount_cents"),
    ('amount_cents >= 5000 and any(lines, categroy = "shoes")', "purchase", 1, 37, "category"),
    ('tierr = "gold"', "member", 1, 1, "tier"),
    ('tier = "gold"\n  adn consent_email', "member", 2, 3, "and"),
])
def test_a_misspelt_name_gets_a_suggestion(server, expression, context, line, column, suggestion):
    error = invalid(server, expression, context)
    assert (error["line"], error["column"], error["suggestion"]) == (line, column, suggestion)
    assert error["message"].endswith(f"did you mean '{suggestion}'?"), error


@pytest.mark.parametrize("expression, line, column", [
    ("amount_cents >= ", 1, 17),
    ("amount_cents >= 5000 and (", 1, 27),
    ('channel = "web', 1, 11),
    ("amount_cents >= 5000\nand channel = = 3", 2, 15),
    ("amount_cents + 1", 1, 1),
    ("", 1, 1),
])
def test_a_syntax_or_type_error_gives_its_position(server, expression, line, column):
    error = invalid(server, expression, "purchase")
    assert (error["line"], error["column"]) == (line, column), error
    assert error["suggestion"] is None


def test_the_message_is_the_one_the_save_route_gives(server):
    condition = 'amount_cents >= 5000 and any(lines, categroy = "shoes")'
    error = invalid(server, condition, "purchase")
    r = server.post("/v1/rules", json={"name": unique("rule-"), "formula": "fixed", "fixed_points": 10,
                                       "condition": condition})
    assert_error(r, 400, "invalid_expression")
    assert r.json()["error"]["message"] == f"condition: {error['message']}"
    r = server.post("/v1/segments", json={"name": unique("seg-"), "expression": "tierr = 1"})
    assert_error(r, 400, "invalid_expression")
    assert r.json()["error"]["message"] == invalid(server, "tierr = 1")["message"]


def test_a_cut_character_leaves_the_message_valid(server):
    error = invalid(server, 'tier = "gold" "' + "é" * 30 + '"')
    assert error["column"] == 15
    assert "é" * 19 in error["message"]


# ---- bad bodies ----------------------------------------------------------------------------------

@pytest.mark.parametrize("body, code", [
    ({"expression": "true", "context": "bogus"}, "invalid_field"),
    ({"expression": "true", "context": "Purchase"}, "invalid_field"),
    ({"expression": "true", "context": 2}, "invalid_field"),
    ({"expression": "true", "context": None}, "invalid_field"),
    ({"context": "member"}, "invalid_field"),
    ({}, "invalid_field"),
    ({"expression": 5}, "invalid_field"),
    ({"expression": None}, "invalid_field"),
    ({"expression": ["true"]}, "invalid_field"),
    ({"expression": "true", "contxt": "member"}, "unknown_field"),
    ([{"expression": "true"}], "invalid_body"),
    ("true", "invalid_json"),  # a body is an object or an array at the top
])
def test_a_bad_body_is_400(server, body, code):
    assert_error(server.post(PATH, json=body), 400, code)


def test_a_body_that_is_not_json_is_400(server):
    r = server.post(PATH, data="{expression", headers={"Content-Type": "application/json"})
    assert_error(r, 400, "invalid_json")


# ---- who, and what it changes ----------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_only_who_edits_the_program_may_check(server, role):
    before = server.db.counts(TABLES)
    r = server.post(PATH, json={"expression": "amount_cents > 1", "context": "purchase"}, key=role)
    if role in MANAGERS:
        assert r.status_code == 200, r.text
        assert r.json()["valid"] is True
    else:
        assert_error(r, 403, "forbidden")
    assert server.db.counts(TABLES) == before


def test_credentials_are_needed(server):
    assert_error(server.post(PATH, json={"expression": "true"}, key=None), 401, "unauthorized")


def test_a_check_changes_nothing(server):
    before = server.db.counts(TABLES)
    audit_before = server.db.count("audit_log")
    for expression, context in (("amount_cents > 1", "purchase"), ("tierr = 1", "member"),
                                ("x = ", "line")):
        check(server, expression, context)
    r = server.post(PATH, json={"expression": "true"}, headers={"Idempotency-Key": unique("k-")})
    assert r.status_code == 200 and r.json()["valid"] is True, r.text
    assert server.db.count("audit_log") == audit_before
    assert server.db.counts(TABLES) == before
