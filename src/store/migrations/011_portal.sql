-- 011: the member portal (DESIGN.md §5: members reach the portal by a one-time link).

-- Every sign-in link asked for, also for an address no member has (member_id
-- and token_hash NULL, nothing sent): the rate limit counts the rows of an
-- address, so a 429 tells nothing about who is a member. email_hash is the
-- hex BLAKE2b of the lowercased address (never the address); token_hash the
-- hash of the link's token (the token itself is only in the email). A link
-- works once (used_at) until expires_at.
CREATE TABLE member_signin_links (
    id {{ID}},
    email_hash TEXT NOT NULL,
    member_id BIGINT REFERENCES members(id),
    token_hash TEXT UNIQUE,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX member_signin_links_email ON member_signin_links(email_hash, created_at);
CREATE INDEX member_signin_links_member ON member_signin_links(member_id);

-- A member's portal session, opened by a link: the cookie's token as a hash,
-- and the CSRF token changes made with the cookie must send.
CREATE TABLE member_sessions (
    id {{ID}},
    token_hash TEXT NOT NULL UNIQUE,
    csrf_token TEXT NOT NULL,
    member_id BIGINT NOT NULL REFERENCES members(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX member_sessions_expires ON member_sessions(expires_at);
CREATE INDEX member_sessions_member ON member_sessions(member_id);
