# SPDX-License-Identifier: Apache-2.0
"""Turn database rows into the frozen snapshots the core works on.

load_policy is the one path from a list's row to the settings the core and
the shell decide with: a new list setting is read here, nowhere else
(docs/ARCHITECTURE.md, "Adding a list setting").
"""

import logging
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from listserv.core import patterns
from listserv.core.filtering import ContentFilter
from listserv.core.policy import (
    Action,
    BounceRules,
    HeaderMatch,
    HoldRules,
    ListPolicy,
    Schedule,
)
from listserv.db.models import ListAlias, MailingList

log = logging.getLogger(__name__)

_reported: set[tuple[str, str]] = set()  # (list, pattern) this process has warned of


async def load_policy(session: AsyncSession, mlist: MailingList,
                      web_url: str | None = None) -> ListPolicy:
    """The list's settings; web_url is the site's base URL, where it has a web side."""
    aliases = await session.scalars(select(ListAlias.address)
                                    .where(ListAlias.list_id == mlist.id))
    policy = _policy(mlist, tuple(aliases), web_url or "")
    _report_unusable(policy)
    return policy


def _report_unusable(policy: ListPolicy) -> None:
    """Warn, once per process, of a stored pattern RE2 cannot take: it matches nothing.

    `lists set` refuses such patterns; these were stored before RE2 (#14.8).
    """
    entries = (*policy.ban_list, *policy.accept_these_nonmembers, *policy.hold_these_nonmembers,
               *policy.reject_these_nonmembers, *policy.discard_these_nonmembers)
    stored = [entry for entry in entries if entry.startswith("^")]
    stored += [rule.pattern for rule in policy.header_matches]
    for pattern, reason in patterns.unusable(stored):
        if (policy.address, pattern) not in _reported:
            _reported.add((policy.address, pattern))
            log.warning("%s: the pattern %r in the list's settings matches nothing: %s; "
                        "change it with listserv lists set", policy.address, pattern, reason)


def _policy(mlist: MailingList, aliases: tuple[str, ...], web_url: str) -> ListPolicy:
    return ListPolicy(
        address=mlist.address,
        aliases=aliases,
        display_name=mlist.display_name,
        description=mlist.description,
        list_id=mlist.list_id,
        subject_prefix=mlist.subject_prefix,
        footer=mlist.footer,
        posting_policy=mlist.posting_policy,
        nonmember_action=mlist.nonmember_action,
        emergency=mlist.emergency,
        administrivia=mlist.administrivia,
        require_explicit_destination=mlist.require_explicit_destination,
        max_message_kb=mlist.max_message_kb,
        max_recipients=mlist.max_recipients,
        reply_to=mlist.reply_to,
        reply_to_address=mlist.reply_to_address,
        archive=mlist.archive,
        archive_url=mlist.archive_url,
        accept_these_nonmembers=tuple(mlist.accept_these_nonmembers),
        hold_these_nonmembers=tuple(mlist.hold_these_nonmembers),
        reject_these_nonmembers=tuple(mlist.reject_these_nonmembers),
        discard_these_nonmembers=tuple(mlist.discard_these_nonmembers),
        ban_list=tuple(mlist.ban_list),
        header_matches=tuple(HeaderMatch(rule["header"], rule["pattern"], Action(rule["action"]))
                             for rule in mlist.header_matches),
        strip_headers=tuple(mlist.strip_headers),
        subscription_policy=mlist.subscription_policy,
        unsubscribe_confirm=mlist.unsubscribe_confirm,
        send_welcome=mlist.send_welcome,
        welcome_message=mlist.welcome_message,
        send_goodbye=mlist.send_goodbye,
        goodbye_message=mlist.goodbye_message,
        notify_owners_of_subscriptions=mlist.notify_owners_of_subscriptions,
        roster_visibility=mlist.roster_visibility,
        personalize=mlist.personalize,
        verp_probe_every=mlist.verp_probe_every,
        dmarc_mitigation=mlist.dmarc_mitigation,
        dmarc_mitigate_none=mlist.dmarc_mitigate_none,
        dmarc_always=tuple(mlist.dmarc_always),
        dmarc_author_in=mlist.dmarc_author_in,
        dmarc_on_dns_failure=mlist.dmarc_on_dns_failure,
        dkim_keep_incoming=mlist.dkim_keep_incoming,
        duplicate_window_hours=mlist.duplicate_window_hours,
        flood_max_posts=mlist.flood_max_posts,
        flood_window_minutes=mlist.flood_window_minutes,
        holds=HoldRules(
            max_days=mlist.max_days_to_hold,
            expiry_action=mlist.hold_expiry_action,
            notify_author=mlist.notify_author_on_hold,
            notices_per_hour=mlist.moderator_notices_per_hour,
            replies_need_auth=mlist.moderator_replies_need_auth,
        ),
        bounces=BounceRules(
            threshold=float(mlist.bounce_score_threshold),
            warnings=mlist.bounce_warnings,
            warning_interval=timedelta(days=mlist.bounce_warning_interval_days),
            decay=timedelta(days=mlist.bounce_score_decay_days),
            notify_owners=mlist.bounce_notify_owners,
        ),
        complaint_action=mlist.complaint_action,
        digest=Schedule(
            size_kb=mlist.digest_size_kb,
            period=mlist.digest_period,
            hour=mlist.digest_hour,
            weekday=mlist.digest_weekday,
            timezone=mlist.timezone,
        ),
        digest_volume_period=mlist.digest_volume_period,
        digest_attachments=mlist.digest_attachments,
        content=_content_filter(mlist),
        archive_visibility=mlist.archive_visibility,
        archive_addresses=mlist.archive_addresses,
        one_click_unsubscribe=mlist.one_click_unsubscribe,
        web_url=web_url,
    )



def _content_filter(mlist: MailingList) -> ContentFilter:
    return ContentFilter(
        enabled=mlist.filter_content,
        filter_types=tuple(mlist.filter_types),
        pass_types=tuple(mlist.pass_types),
        filter_extensions=tuple(mlist.filter_extensions),
        pass_extensions=tuple(mlist.pass_extensions),
        collapse_alternatives=mlist.collapse_alternatives,
        convert_html_to_plaintext=mlist.convert_html_to_plaintext,
        signed=mlist.filter_signed,
        action=mlist.filter_action,
    )
