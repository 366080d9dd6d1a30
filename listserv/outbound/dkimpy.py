# SPDX-License-Identifier: Apache-2.0
"""dkimpy, which listserv verifies and seals with, canonicalising bodies a piece at a time.

dkimpy puts a whole body through two regular expressions for its relaxed form; over a
1 MB body each call holds the interpreter 30-60 ms, and the event loop waits for the
worker thread that long (#14.2). core.signatures.relaxed_body gives the same bytes in
pieces, and takes dkimpy's place here. Import dkim from this module.
"""

import dkim
import dkim.canonicalization

from listserv.core.signatures import relaxed_body

dkim.canonicalization.Relaxed.canonicalize_body = staticmethod(relaxed_body)

__all__ = ["dkim"]
