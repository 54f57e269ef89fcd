-- Macros of the pseudonymisation SQL (run as a script on a private in-memory connection).
-- The key never appears here: its HMAC pads are bound as parameters of each query and
-- passed in as ipad / opad.

-- HMAC-SHA256 (RFC 2104) from DuckDB's sha256: H((K xor opad) || H((K xor ipad) || m)),
-- truncated to 128 bits (32 hex digits: collisions stay negligible at billions of values).
-- The message is domain || 0x1f || value, so one value gives unrelated tokens in different
-- keyspaces (an e-mail token cannot be joined to a username token). NULL stays NULL.
create or replace temp macro pseudo_token(ipad, opad, domain, value) as left(
    sha256(opad || unhex(sha256(ipad || encode(domain || chr(31) || value::varchar)))), 32
);

-- Character bigrams of a standardised value, padded so first and last letters count:
-- 'ann' -> ['_a', 'an', 'nn', 'n_'].
create or replace temp macro pseudo_bigrams(value) as list_transform(
    range(1, length('_' || value || '_')),
    lambda i: substr('_' || value || '_', i::integer, 2)
);

-- Each value with one position masked, one 64-bit token per position: two equal-length
-- values one substitution apart share exactly the token of that position.
create or replace temp macro pseudo_masks(ipad, opad, domain, value) as array_to_string(
    list_transform(
        range(1, length(value) + 1),
        lambda i: left(pseudo_token(
            ipad, opad, domain,
            substr(value, 1, i::integer - 1) || '*' || substr(value, i::integer + 1)
        ), 16)
    ),
    ' '
);
