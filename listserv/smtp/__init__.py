# SPDX-License-Identifier: Apache-2.0
"""Mail in: the SMTP and LMTP dialogue, and storing what it accepts before answering 250."""
