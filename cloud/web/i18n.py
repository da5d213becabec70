"""Page texts in zh-CN and English; the language comes from ?lang=, then Accept-Language."""

from __future__ import annotations

TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "title": "智能售货柜", "phone": "手机号", "send_code": "获取验证码", "code": "验证码",
        "sign_in": "登录", "signed_in_as": "已登录", "balance": "余额", "in_cabinet": "柜内商品",
        "open": "开门", "opening": "正在开门…", "left": "剩余", "offline": "柜子离线",
        "online": "在线", "status_pending": "正在开锁…", "status_unlocked": "门已解锁，请开门取货",
        "status_open": "门已打开，取完请关门", "status_closed": "门已关闭，正在称重结算…",
        "status_settled": "已结算", "status_review": "称重结果不确定，客服将人工核对，暂不扣款",
        "status_not_opened": "门未打开，已解除冻结", "status_failed": "开门失败",
        "status_refunded": "未扣款", "receipt": "小票", "total": "合计", "nothing_taken": "未取商品，不扣款",
        "again": "再次开门", "switch": "English", "code_sent": "验证码已发送", "dev_code": "演示验证码",
        "staff_title": "补货", "username": "用户名", "password": "密码", "load_list": "本柜装货清单",
        "lane": "货道", "product": "商品", "now": "现有", "load": "装入", "pull": "取出", "short": "缺货",
        "open_restock": "开门补货", "planned": "计划", "detected": "称重检测", "confirmed": "确认",
        "confirm": "确认入账", "restock_done": "补货已入账", "status_confirm": "门已关闭：请核对数量后确认",
        "picklist": "拣货单", "picking": "门店拣货", "route": "配送路线", "distance": "全程",
        "stop": "站", "print": "打印", "csv": "导出 CSV", "nothing": "无需补货",
        "ops": "运营", "fleet": "柜群", "alarms": "告警", "reviews": "待审核", "cabinet": "柜子",
        "temperature": "温度", "door": "门", "state": "状态", "ack": "确认告警", "charge": "扣款",
        "refund": "不扣款", "sessions": "最近订单", "stock": "库存", "low_stock": "缺货", "open_doors": "门开着",
        "cabinets": "柜子总数",
    },
    "en": {
        "title": "Smart cabinet", "phone": "Phone number", "send_code": "Send code", "code": "Code",
        "sign_in": "Sign in", "signed_in_as": "Signed in", "balance": "Balance", "in_cabinet": "In this cabinet",
        "open": "Open the door", "opening": "Opening…", "left": "left", "offline": "Cabinet offline",
        "online": "Online", "status_pending": "Unlocking…", "status_unlocked": "Unlocked: open the door",
        "status_open": "Door open: close it when you are done", "status_closed": "Door closed: weighing…",
        "status_settled": "Settled", "status_review": "The scale was not sure: staff will check, nothing charged yet",
        "status_not_opened": "The door was not opened; your funds are released", "status_failed": "Could not open",
        "status_refunded": "Nothing charged", "receipt": "Receipt", "total": "Total",
        "nothing_taken": "Nothing taken, nothing charged", "again": "Open again", "switch": "中文",
        "code_sent": "Code sent", "dev_code": "Demo code",
        "staff_title": "Restock", "username": "User name", "password": "Password", "load_list": "Load list for this cabinet",
        "lane": "Lane", "product": "Product", "now": "Now", "load": "Load", "pull": "Pull", "short": "Short",
        "open_restock": "Open for restock", "planned": "Planned", "detected": "Detected", "confirmed": "Confirmed",
        "confirm": "Confirm", "restock_done": "Restock recorded", "status_confirm": "Door closed: check the counts and confirm",
        "picklist": "Pick list", "picking": "Pick in the store", "route": "Route", "distance": "Distance",
        "stop": "Stop", "print": "Print", "csv": "Export CSV", "nothing": "Nothing to restock",
        "ops": "Ops", "fleet": "Fleet", "alarms": "Alarms", "reviews": "Review queue", "cabinet": "Cabinet",
        "temperature": "Temperature", "door": "Door", "state": "State", "ack": "Acknowledge", "charge": "Charge",
        "refund": "Charge nothing", "sessions": "Recent sessions", "stock": "Stock", "low_stock": "Low stock",
        "open_doors": "Door open", "cabinets": "Cabinets",
    },
}  # fmt: skip


def pick_language(query: str | None, accept_language: str | None) -> str:
    if query in TEXTS:
        return query
    for part in (accept_language or "").split(","):
        tag = part.split(";")[0].strip().lower()
        if tag.startswith("en"):
            return "en"
        if tag.startswith("zh"):
            return "zh-CN"
    return "zh-CN"


# The settings page (templates/settings.html): a label per CabinetSettings field, its refusals by code.
SETTINGS_TEXTS: dict[str, dict[str, str]] = {
    "zh-CN": {
        "settings": "设置", "settings_for": "设置对象", "store": "门店", "setting": "设置项",
        "fleet_default": "全网默认", "inherited": "继承值", "override": "本级设置", "in_force": "生效值",
        "save": "保存", "saved": "已保存，新配置已下发到柜子",
        "settings_help": "留空即继承：柜子设置优先于门店设置，门店设置优先于全网默认。",
        "set_door_open_timeout_s": "开锁后未开门超时（秒）", "set_left_open_after_s": "门未关告警（秒）",
        "set_settle_timeout_s": "关门后称重稳定超时（秒）", "set_telemetry_interval_s": "遥测间隔（秒）",
        "set_min_confidence": "识别最低置信度", "set_max_take": "每货道单次最多取件数",
        "set_hold_fen": "开门预授权金额（分）", "set_chilled_max_c": "冷藏温度上限（°C）",
        "set_warm_grace_s": "超温宽限（秒）", "set_silence_s": "无遥测判定离线（秒）",
        "set_outbox_backlog": "网关积压事件告警数", "set_low_stock_fraction": "缺货比例（占容量）",
        "err_invalid_setting": "设置 {name} 无效：{reason}", "err_unknown_setting": "未知设置：{names}",
    },
    "en": {
        "settings": "Settings", "settings_for": "Settings of", "store": "Store", "setting": "Setting",
        "fleet_default": "Fleet default", "inherited": "Inherited", "override": "Set here", "in_force": "In force",
        "save": "Save", "saved": "Saved; the new config is on its way to the cabinets",
        "settings_help": "Leave a field empty to inherit: a cabinet's setting beats its store's, a store's beats the fleet default.",
        "set_door_open_timeout_s": "Unlocked but not opened after (s)", "set_left_open_after_s": "Door left open alarm after (s)",
        "set_settle_timeout_s": "Scales settle within (s)", "set_telemetry_interval_s": "Telemetry every (s)",
        "set_min_confidence": "Least confidence to charge", "set_max_take": "Most pieces per lane per visit",
        "set_hold_fen": "Hold when a door opens (fen)", "set_chilled_max_c": "Chilled goods up to (°C)",
        "set_warm_grace_s": "Warm for this long before an alarm (s)", "set_silence_s": "Offline after silence of (s)",
        "set_outbox_backlog": "Gateway backlog alarm at (events)", "set_low_stock_fraction": "Low stock at (share of capacity)",
        "err_invalid_setting": "Setting {name} is invalid: {reason}", "err_unknown_setting": "Unknown settings: {names}",
    },
}  # fmt: skip
for _language, _texts in SETTINGS_TEXTS.items():
    TEXTS[_language].update(_texts)
