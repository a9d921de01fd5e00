"""What the bot itself says when it is not quoting the knowledge base, per language."""

from __future__ import annotations

TEMPLATES: dict[str, dict[str, str]] = {
    "fallback": {
        "en": "Sorry, I didn't quite get that. Could you say it another way? "
        "You can also type 'agent' to reach a person.",
        "zh": "抱歉，我没有理解您的意思。能换个说法吗？您也可以输入“人工”联系客服。",
    },
    "clarify": {
        "en": "I want to be sure I help with the right thing. Did you mean:\n{options}\n"
        "Reply with the number, or say it in other words.",
        "zh": "我想确认一下您要问的是哪一个：\n{options}\n请回复序号，或换个说法告诉我。",
    },
    "clarify_again": {
        "en": "Please reply with a number from 1 to {count}:\n{options}\nOr say it in other words.",
        "zh": "请回复 1 到 {count} 之间的序号：\n{options}\n或换个说法告诉我。",
    },
    "confirm": {
        "en": "Just to be sure, because this is hard to undo: you're asking about “{question}”? "
        "Reply yes or no.",
        "zh": "这项操作不易撤销，想先跟您确认一下：您问的是“{question}”吗？请回复“是”或“不是”。",
    },
    "declined": {
        "en": "No problem. What can I help you with? You can also type 'agent' to reach a person.",
        "zh": "好的。请问有什么可以帮您？您也可以输入“人工”联系客服。",
    },
    "out_of_scope": {
        "en": "That's outside what I can help with here. I can answer questions like: "
        "{topics}. Or type 'agent' to reach a person.",
        "zh": "这个问题超出了我能帮忙的范围。我可以解答例如：{topics}。"
        "您也可以输入“人工”联系客服。",
    },
    "out_of_scope_joiner": {"en": "; ", "zh": "；"},
    "rejected": {
        "en": "Sorry that didn't help. Could you tell me a bit more about what you need? If "
        "you'd rather talk to a person, type 'agent'.",
        "zh": "抱歉没能帮到您。能再具体说说您遇到的情况吗？如需人工客服，请输入“人工”。",
    },
    "yes": {"en": "Yes", "zh": "是"},
    "no": {"en": "No", "zh": "不是"},
    "handoff": {
        "en": "I'm passing you to a person on our team. Please stay here: they'll reply in "
        "this chat.",
        "zh": "正在为您转接人工客服，请稍候，客服会在此会话中回复您。",
    },
    "offer_human": {
        "en": "If that doesn't sort it out, I can bring in a person from our team: just say "
        "'agent'.",
        "zh": "如果这没有解决您的问题，我可以为您转接人工客服：输入“人工”即可。",
    },
    "offer_human_unclear": {
        "en": "I'm sorry, I didn't understand that, and I'd rather not guess. Would you like a "
        "person from our team to take over? Just say 'agent', or tell me a bit more.",
        "zh": "抱歉，我没能理解您的意思，不想乱猜。需要为您转接人工客服吗？"
        "输入“人工”即可，或再具体说说。",
    },
    "talk_to_person": {"en": "Talk to a person", "zh": "转人工"},
    "queue_position": {
        "en": "You're number {position} in the queue; the expected wait is about {minutes} min.",
        "zh": "您当前排在第 {position} 位，预计等待约 {minutes} 分钟。",
    },
    "queued_ack": {
        "en": "Thanks, a person will read this when they pick up your chat.",
        "zh": "收到，客服接入后会看到您的留言。",
    },
    "queued_answer": {
        "en": "While you wait for a person, this may help:\n\n{answer}",
        "zh": "在等待人工客服期间，这条信息或许能帮到您：\n\n{answer}",
    },
    "queue_nobody": {
        "en": "Nobody from our team is at their desk right now, so I can't promise a time. "
        "You're number {position} in the queue: leave your question here and they'll answer "
        "in this chat as soon as someone is back.",
        "zh": "客服团队暂时无人在线，无法给出预计时间。您当前排在第 {position} 位，"
        "请在此留言，客服回来后会在本会话中回复您。",
    },
    "queue_closed": {
        "en": "Our team is away right now and back {opens}. Leave your question here and "
        "they'll answer in this chat.",
        "zh": "客服团队目前不在线，将于 {opens} 恢复服务。请在此留言，客服会在本会话中回复您。",
    },
    "csat": {
        "en": "This conversation is closed. How satisfied are you with the help you got? "
        "Reply with a number from 1 (not at all) to 5 (very).",
        "zh": "本次会话已结束。您对本次服务满意吗？"
        "请回复 1（很不满意）到 5（非常满意）之间的数字。",
    },
    "csat_thanks": {
        "en": "Thank you for your rating! Write here any time if you need more help.",
        "zh": "感谢您的评价！如需更多帮助，随时在这里留言。",
    },
    "slow_down_queued": {
        "en": "You're writing faster than I can keep up with. Everything you send is kept, and "
        "the person who picks up your chat will read it all.",
        "zh": "您发送消息的速度太快。您发送的所有内容都已保存，接入的客服会全部看到。",
    },
    "slow_down": {
        "en": "You're writing faster than I can answer, so I'll pause for a minute. Everything "
        "you send is kept, and our team can see it; type 'agent' in a minute to reach a person.",
        "zh": "您发送消息的速度太快，我将暂停回复一分钟。您发送的所有内容都已保存，客服可以看到；"
        "一分钟后输入“人工”即可联系客服。",
    },
    "chat_by_email": {
        "en": "{who} answered in your chat:\n\n{text}\n\n--\nAnswer this email to reply, or "
        "go back to the chat: {link}",
        "zh": "{who} 在您的会话中回复了：\n\n{text}\n\n--\n直接回复此邮件即可继续沟通，"
        "或返回会话：{link}",
    },
    "chat_by_email_subject": {
        "en": "Your chat with {company}",
        "zh": "您与 {company} 的会话",
    },
    "chat_by_email_team": {"en": "Our team", "zh": "客服团队"},
    "transcript_subject": {
        "en": "Your chat with {company}: the transcript",
        "zh": "您与 {company} 的会话记录",
    },
    "transcript_intro": {
        "en": "Here is your conversation with {company}, as you asked.",
        "zh": "以下是您与 {company} 的会话记录。",
    },
    "transcript_you": {"en": "You", "zh": "您"},
    "transcript_bot": {"en": "Assistant", "zh": "智能助手"},
    "handback": {
        "en": "You're back with the assistant. Ask me anything, or type 'agent' for a person.",
        "zh": "您已回到智能助手。有问题随时问我，或输入“人工”联系客服。",
    },
}


def say(key: str, language: str, **values: str) -> str:
    variants = TEMPLATES[key]
    return variants.get(language, variants["en"]).format(**values)
