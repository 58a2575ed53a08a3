"""The S3 error vocabulary and its XML form.

Every failure the API layer reports is an `S3Error`: a code from the table
below (which fixes the HTTP status and a default message, as S3 documents
them), an optional resource, and optional extra elements that S3 adds to some
errors (StringToSign for SignatureDoesNotMatch, ActualObjectSize for
InvalidRange, ...). Clients parse the code, so the codes must be S3's own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

# code -> (HTTP status, default message), from the S3 API reference "Error responses".
ERRORS: dict[str, tuple[int, str]] = {
    "AccessDenied": (403, "Access Denied"),
    "AccountProblem": (403, "There is a problem with your account that prevents the operation from "
                            "completing successfully."),
    "AuthorizationHeaderMalformed": (400, "The authorization header is malformed."),
    "AuthorizationQueryParametersError": (400, "Error parsing the query-string authentication parameters."),
    "BadDigest": (400, "The Content-MD5 you specified did not match what we received."),
    "BucketAlreadyExists": (409, "The requested bucket name is not available. The bucket namespace is shared"
                                 " by all users of the system. Please select a different name and try again."),
    "BucketAlreadyOwnedByYou": (409, "Your previous request to create the named bucket succeeded and you "
                                     "already own it."),
    "BucketNotEmpty": (409, "The bucket you tried to delete is not empty"),
    "ConditionalRequestConflict": (409, "A conflicting operation occurred. Please retry."),
    "CredentialsNotSupported": (400, "This request does not support credentials."),
    "EntityTooLarge": (400, "Your proposed upload exceeds the maximum allowed object size."),
    "EntityTooSmall": (400, "Your proposed upload is smaller than the minimum allowed object size."),
    "ExpiredToken": (400, "The provided token has expired."),
    "IllegalLocationConstraintException": (400, "The specified location-constraint is not valid for this "
                                                "request."),
    "IncompleteBody": (400, "You did not provide the number of bytes specified by the Content-Length HTTP "
                            "header."),
    "InternalError": (500, "We encountered an internal error. Please try again."),
    "InvalidAccessKeyId": (403, "The AWS Access Key Id you provided does not exist in our records."),
    "InvalidArgument": (400, "Invalid Argument"),
    "InvalidBucketName": (400, "The specified bucket is not valid."),
    "InvalidBucketState": (409, "The request is not valid with the current state of the bucket."),
    "InvalidDigest": (400, "The Content-MD5 you specified is not valid."),
    "InvalidEncryptionAlgorithmError": (400, "The encryption request you specified is not valid."),
    "InvalidLocationConstraint": (400, "The specified location constraint is not valid."),
    "InvalidObjectState": (403, "The operation is not valid for the current state of the object."),
    "InvalidPart": (400, "One or more of the specified parts could not be found. The part might not have "
                         "been uploaded, or the specified entity tag might not have matched the part's "
                         "entity tag."),
    "InvalidPartOrder": (400, "The list of parts was not in ascending order. The parts list must be "
                              "specified in order by part number."),
    "InvalidRange": (416, "The requested range is not satisfiable"),
    "InvalidRequest": (400, "Invalid Request"),
    "InvalidSecurity": (403, "The provided security credentials are not valid."),
    "InvalidStorageClass": (400, "The storage class you specified is not valid."),
    "InvalidTag": (400, "The tag provided was not a valid tag."),
    "InvalidToken": (400, "The provided token is malformed or otherwise invalid."),
    "InvalidURI": (400, "Couldn't parse the specified URI."),
    "KeyTooLongError": (400, "Your key is too long."),
    "MalformedACLError": (400, "The XML you provided was not well-formed or did not validate against our "
                               "published schema."),
    "MalformedPOSTRequest": (400, "The body of your POST request is not well-formed multipart/form-data."),
    "MalformedTrailerError": (400, "The request contained trailing data that was not well-formed or did not "
                                   "conform to our published schema."),
    "MalformedXML": (400, "The XML you provided was not well-formed or did not validate against our "
                          "published schema."),
    "MaxMessageLengthExceeded": (400, "Your request was too big."),
    "MetadataTooLarge": (400, "Your metadata headers exceed the maximum allowed metadata size."),
    "MethodNotAllowed": (405, "The specified method is not allowed against this resource."),
    "MissingContentLength": (411, "You must provide the Content-Length HTTP header."),
    "MissingRequestBodyError": (400, "Request Body is empty."),
    "MissingSecurityHeader": (400, "Your request is missing a required header."),
    "NoSuchBucket": (404, "The specified bucket does not exist"),
    "NoSuchBucketPolicy": (404, "The bucket policy does not exist"),
    "NoSuchCORSConfiguration": (404, "The CORS configuration does not exist"),
    "NoSuchKey": (404, "The specified key does not exist."),
    "NoSuchLifecycleConfiguration": (404, "The lifecycle configuration does not exist."),
    "NoSuchTagSet": (404, "The TagSet does not exist"),
    "NoSuchUpload": (404, "The specified upload does not exist. The upload ID may be invalid, or the upload "
                          "may have been aborted or completed."),
    "NoSuchVersion": (404, "The specified version does not exist."),
    "NotImplemented": (501, "A header you provided implies functionality that is not implemented."),
    "NotModified": (304, "Not Modified"),
    "OperationAborted": (409, "A conflicting conditional operation is currently in progress against this "
                              "resource. Try again."),
    "PermanentRedirect": (301, "The bucket you are attempting to access must be addressed using the "
                               "specified endpoint. Please send all future requests to this endpoint."),
    "PreconditionFailed": (412, "At least one of the preconditions you specified did not hold."),
    "RequestTimeout": (400, "Your socket connection to the server was not read from or written to within the"
                            " timeout period."),
    "RequestTimeTooSkewed": (403, "The difference between the request time and the current time is too "
                                  "large."),
    "ServiceUnavailable": (503, "Service is unable to handle request."),
    "SignatureDoesNotMatch": (403, "The request signature we calculated does not match the signature you "
                                   "provided. Check your key and signing method."),
    "SlowDown": (503, "Please reduce your request rate."),
    "TemporaryRedirect": (307, "You are being redirected to the bucket while DNS updates."),
    "TooManyBuckets": (400, "You have attempted to create more buckets than allowed."),
    "UnexpectedContent": (400, "This request does not support content."),
    "UserKeyMustBeSpecified": (400, "The bucket POST must contain the specified field name. If it is "
                                    "specified, check the order of the fields."),
    "XAmzContentSHA256Mismatch": (400, "The provided 'x-amz-content-sha256' header does not match what was "
                                       "computed."),
}


class S3Error(Exception):
    """An error as S3 reports it: code, HTTP status, message, optional extra elements.

    >>> e = S3Error("NoSuchKey", resource="/b/k")
    >>> (e.code, e.status, e.message)
    ('NoSuchKey', 404, 'The specified key does not exist.')
    >>> S3Error("InvalidRange", ActualObjectSize=10).extra
    {'ActualObjectSize': '10'}

    Extra elements whose names are not identifiers (X-Amz-Expires) go in `extra`.
    A code missing from the table needs an explicit status; without one it is
    a 500, so the slip shows instead of passing as a client error.
    """

    def __init__(
        self,
        code: str,
        message: str | None = None,
        *,
        status: int | None = None,
        resource: str | None = None,
        extra: Mapping[str, object] | None = None,
        **fields: object,
    ) -> None:
        default_status, default_message = ERRORS.get(code, (500, code))
        self.code = code
        self.status = status if status is not None else default_status
        self.message = message if message is not None else default_message
        self.resource = resource
        self.extra: dict[str, str] = {k: str(v) for k, v in {**(extra or {}), **fields}.items()}
        super().__init__(f"{code}: {self.message}")

    def __repr__(self) -> str:
        return f"S3Error({self.code!r}, {self.message!r}, status={self.status})"


# Characters XML 1.0 cannot carry literally. S3 emits them as character
# references (and so do we); CR is referenced too so parsers do not fold it.
_NEEDS_REF = re.compile("[\x01-\x08\x0b\x0c\x0d\x0e-\x1f\ufffe\uffff]")
_TEXT_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
# undecodable bytes smuggled in by surrogateescape, and NUL, which no XML can carry (not even
# as a reference): an echo of such input (an ArgumentValue) shows U+FFFD there instead
_REPLACED = re.compile("[\x00\ud800-\udfff]")


def xml_text(value: object) -> str:
    """Escape a value for XML character data (also safe inside double-quoted attributes).

    >>> xml_text('a<b & "c"\\r')
    'a&lt;b &amp; &quot;c&quot;&#xD;'
    >>> xml_text("nul\\x00")
    'nul\ufffd'
    """
    text = str(value).translate(_TEXT_ESCAPES)
    if _REPLACED.search(text):
        text = _REPLACED.sub("\ufffd", text)
    if _NEEDS_REF.search(text):
        text = _NEEDS_REF.sub(lambda m: f"&#x{ord(m.group()):X};", text)
    return text


def error_xml(err: S3Error, resource: str = "", request_id: str = "", host_id: str = "") -> bytes:
    """Render the <Error> document S3 sends with every failed request.

    The resource given here wins over the error's own; extra elements follow
    Message, as in S3's responses (clients find elements by name anyway).

    >>> doc = error_xml(S3Error("NoSuchBucket"), "/b", "RID", "HID")
    >>> doc.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\\n<Error><Code>NoSuchBucket</Code><Message>')
    True
    >>> doc.endswith(b"</Message><Resource>/b</Resource><RequestId>RID</RequestId><HostId>HID</HostId></Error>")
    True
    """
    parts = ['<?xml version="1.0" encoding="UTF-8"?>\n<Error>']
    parts.append(f"<Code>{xml_text(err.code)}</Code><Message>{xml_text(err.message)}</Message>")
    for name, value in err.extra.items():
        if _is_element_name(name):
            parts.append(f"<{name}>{xml_text(value)}</{name}>")
    where = resource or err.resource or ""
    if where:
        parts.append(f"<Resource>{xml_text(where)}</Resource>")
    parts.append(f"<RequestId>{xml_text(request_id)}</RequestId>")
    if host_id:
        parts.append(f"<HostId>{xml_text(host_id)}</HostId>")
    parts.append("</Error>")
    return "".join(parts).encode("utf-8")


_ELEMENT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\Z")


def _is_element_name(name: str) -> bool:
    # Extra names come from our own code, but a bad one must not break the document.
    return bool(_ELEMENT_NAME.match(name)) and not name.lower().startswith("xml")
