"""What a customer's message says beyond its intent, in English and Chinese: a threat to
cancel or to leave for a competitor, a legal threat, sarcasm, a request for a person inside
another question, "this is not the first time", an account someone else got into.

Patterns, not a model: each names a phrase a support lead would point at, so the reason an
agent reads ("threatened to cancel") is the phrase the customer wrote.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_I = r"\b(i('| a)?m|i am|i will|i'll|i'd|i have to|we('re| are)|we will|we'll)\s+"
_EN_CANCEL = re.compile(
    _I + r"(going to |gonna |about to |seriously |definitely )?(just |now )?"
    r"(cancel(l?ing)?|leav(e|ing) (you|your|this (company|service|provider))|switch(ing)?\b|"
    r"mov(e|ing) (my|our) (business|account|money)|tak(e|ing) (my|our) business|"
    r"clos(e|ing) (my|our) account|done with (you|your)|out of here)"
    r"|\b(switch(ing)?|mov(e|ing)|go(ing)?) (over )?to (a |your )?"
    r"(competitor|another (provider|company|service|bank|airline|carrier)|someone else)\b"
    r"|\bor (i'?ll|we'?ll|i will|we will) (cancel|leave|switch)\b"
    r"|\blost (a|me as a) customer\b"
    r"|\bnever (use|using|order(ing)?|fly(ing)?|buy(ing)?) (from |with )?(you|your)",
    re.IGNORECASE,
)
# "How do I cancel?" is a question the FAQ answers; "I'm cancelling" is a threat.
_EN_CANCEL_QUESTION = re.compile(
    r"^\s*(how|where|can|could|may|what|when|is it possible)\b[^.!]*\bcancel", re.IGNORECASE
)
_ZH_CANCEL = re.compile(
    r"换(一|别)?家|去别家|换别的(平台|公司|服务)|转投|不(再)?用你们|再也不(用|买|来)|"
    r"(再|还)(不|没).{0,12}(就|我就).{0,4}(取消|注销|退订|退掉|换)|"
    r"我(要|就)?(马上|立刻)?(注销|销户|退订|退掉|不续费)(了|账号|账户)?[!！。]|"
    r"(用|选)(竞争对手|别人家)"
)
_EN_LEGAL = re.compile(
    r"\b(lawyers?|attorneys?|solicitors?|sue|suing|lawsuit|legal action|take (you|this) to court|"
    r"small claims|court|chargeback|class action|"
    r"report (you|this|your company) to (the )?(bbb|ftc|fca|regulator|authorities|police|"
    r"consumer protection|ombudsman)|consumer protection|ombudsman|trading standards)\b",
    re.IGNORECASE,
)
_ZH_LEGAL = re.compile(
    r"律师|起诉|告你们|法院|诉讼|消协|消费者协会|12315|工商局|市场监管|报警|维权"
)
_EN_PERSON = re.compile(
    r"\b(real|actual|live) (person|human|agent|people)\b|\b(a|an|some) (human|person|agent|"
    r"representative|rep|manager|supervisor)\b|\bsomeone (real|from support|who can help)\b|"
    r"\b(speak|talk|chat) (to|with) (someone|somebody|a|an|your|the)\b",
    re.IGNORECASE,
)
_ZH_PERSON = re.compile(r"人工|真人|客服人员|你们经理|找经理|找个人|活人")
_EN_SARCASM_PRAISE = re.compile(
    r"(^|[.!,;]\s*|\b(oh|just|yeah|so|really)\s+)(great|wonderful|lovely|fantastic|perfect|"
    r"awesome|brilliant|amazing|nice|super|excellent|cool)\b|\blove (it|that|this)\b|"
    r"\bthanks (a lot|so much)? ?for nothing\b|\bjust what i needed\b|\byeah right\b|"
    r"\bwell done\b|\bthanks a lot\b|\bgood job\b|\bhow (nice|lovely|great)\b",
    re.IGNORECASE,
)
_EN_SARCASM_EVENT = re.compile(
    r"\b(again|crash(ed|es|ing)?|broke(n)?|down|delay(ed)?|cancell?ed|lost|stuck|fail(ed|s)?|"
    r"error|charged (me )?twice|double charged|waiting|waited|still|nothing|another|"
    r"\d+ (hours?|days?|weeks?)|no (one|reply|answer|response))\b",
    re.IGNORECASE,
)
_ZH_SARCASM = re.compile(
    r"(太好了|真棒|真好|真行|厉害|谢谢你们|感谢你们|好极了|真不错).{0,8}(又|还是|再次|让我|白等|崩|坏|没)|"
    r"真是服了|呵呵|佩服你们|可真(行|有你们的)"
)
_EN_REPEAT = re.compile(
    r"\b((second|third|fourth|fifth|\d+(st|nd|rd|th)) time|again|still|keeps?|every time|"
    r"(no ?one|nobody|no one) (answers|replies|responds|has (answered|replied|responded))|"
    r"already (told|asked|explained|sent|called|written)|for (days|weeks|hours))\b",
    re.IGNORECASE,
)
_ZH_REPEAT = re.compile(
    r"第[二三四五六七八九十\d]+次|又|还是|一直|总是|老是|好几次|多次|没人(回|理|管)|已经说了"
)
_EN_COMPROMISED = re.compile(
    r"\b(hacked|compromised|stolen account|account takeover)\b|"
    r"\bsomeone (else )?(has )?(logged|signed|got) in(to)?\b|"
    r"\bunauthori[sz]ed (login|log-in|access|charges?|purchases?|transactions?)\b|"
    r"\bi did(n't| not) (make|authori[sz]e|approve) (this|these|that|those)\b",
    re.IGNORECASE,
)
_ZH_COMPROMISED = re.compile(
    r"盗号|被盗|被黑|异地登录|有人(从|在).{0,8}登录|不是我(本人)?(操作|登录|买的|付的)|"
    r"账号被.{0,4}(盗|黑|改)|盗刷"
)
_INTENSE = re.compile(r"!{2,}|！{2,}|\?!|!\?|\b[A-Z]{4,}\b")


@dataclass(frozen=True, slots=True)
class MessageCues:
    cancel_threat: bool = False
    legal_threat: bool = False
    sarcasm: bool = False
    asks_for_person: bool = False
    repeat_contact: bool = False
    intense: bool = False
    account_compromised: bool = False


def is_sarcastic(text: str) -> bool:
    """Praise wrapped around a complaint: "great, it crashed again", "太好了又崩了"."""
    english = _EN_SARCASM_PRAISE.search(text) and _EN_SARCASM_EVENT.search(text)
    return bool(english or _ZH_SARCASM.search(text))


def read_cues(text: str) -> MessageCues:
    cancel = bool(_EN_CANCEL.search(text)) and not _EN_CANCEL_QUESTION.search(text)
    return MessageCues(
        cancel_threat=cancel or bool(_ZH_CANCEL.search(text)),
        legal_threat=bool(_EN_LEGAL.search(text) or _ZH_LEGAL.search(text)),
        sarcasm=is_sarcastic(text),
        asks_for_person=bool(_EN_PERSON.search(text) or _ZH_PERSON.search(text)),
        repeat_contact=bool(_EN_REPEAT.search(text) or _ZH_REPEAT.search(text)),
        intense=bool(_INTENSE.search(text)),
        account_compromised=bool(_EN_COMPROMISED.search(text) or _ZH_COMPROMISED.search(text)),
    )
