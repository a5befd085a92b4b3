"""Entity tags of versioned resources and the If-Match a change must carry (RFC 9110
§8.8.3, §13.1.1). A workout's ETag is its version as a strong tag, `"3"`. A change needs
If-Match, so nobody overwrites a version they have not seen: without it 428 (RFC 6585);
`*` takes whichever version is current; a list takes any of its versions; a tag that names
no version (a weak `W/"3"`, which If-Match's strong comparison never matches, or any other
text) matches nothing, so a header of only those is 412 at once."""

from __future__ import annotations

import re

from gateway.errors import bad_request, precondition_failed, precondition_required

STRONG = re.compile(r'"([1-9][0-9]{0,14})"')
# As many versions as the activity service takes in one call.
MAX_TAGS = 16


def etag(version: int) -> str:
    return f'"{version}"'


def expected_versions(if_match: str | None) -> list[int]:
    """The versions an If-Match header accepts; [] for any."""
    if if_match is None or not if_match.strip():
        raise precondition_required(
            "If-Match is required: send the ETag you read (or * for any version)"
        )
    tags = [tag.strip() for tag in if_match.split(",")]
    if "*" in tags:
        return []
    versions = sorted({int(found[1]) for tag in tags if (found := STRONG.fullmatch(tag))})
    if not versions:
        raise precondition_failed("If-Match names no version this resource has had")
    if len(versions) > MAX_TAGS:
        raise bad_request(f"If-Match may name at most {MAX_TAGS} versions", "If-Match")
    return versions
