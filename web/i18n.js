// Chinese first (DESIGN.md decision 6): zh-CN is the default, English a click away.
// Static markup names its text with data-i18n="key" (textContent),
// data-i18n-label="key" (aria-label) and data-i18n-title="key" (title);
// everything rendered from data calls t() and is re-rendered on a language change.

const STORAGE_KEY = "seat.lang";
export const LANGS = ["zh-CN", "en"];

const zh = {
  "app.title": "远程坐席",
  "app.loading": "正在加载…",
  "lang.switch": "English",
  "lang.switch.label": "切换语言",
  "logout": "退出登录",
  "user.label": "当前用户",

  "conn.idle": "未连接",
  "conn.connecting": "连接中…",
  "conn.open": "实时连接正常",
  "conn.reconnecting": "重新连接中…",
  "banner.reconnecting": "与服务器的实时连接已断开，正在重新连接…（画面数据可能不是最新）",
  "attack.username": "登录攻击告警：账号 {username} 近期密码错误 {users} 次（最近一次来自 {remote}）",
  "attack.address": "登录攻击告警：地址 {remote} 已密码错误 {addresses} 次（最近尝试账号 {username}）",
  "attack.dismiss": "知道了",

  "role.agent": "坐席员",
  "role.supervisor": "值班主管",
  "role.admin": "管理员",

  "tab.lanes": "车道",
  "tab.audit": "审计日志",
  "tabs.label": "视图",

  "login.title": "坐席登录",
  "login.username": "用户名",
  "login.password": "密码",
  "login.submit": "登录",
  "login.busy": "正在登录…",
  "login.missing": "请输入用户名和密码",
  "login.bad_credentials": "用户名或密码错误",
  "login.throttled": "尝试次数过多，请 {n} 秒后再试",
  "login.server_busy": "服务器正忙，{n} 秒后可再试",
  "login.expired": "登录已失效，请重新登录",
  "login.logged_out": "已退出登录",

  "lanes.title": "车道监控",
  "lanes.empty": "暂无车道",
  "lanes.loading": "正在加载车道…",
  "lanes.online_count": "在线 {online}/{total}",
  "col.lane": "车道",
  "col.status": "状态",
  "col.gate": "道闸",
  "col.vehicle": "最近车辆",
  "col.call": "呼叫",
  "col.fault": "故障",
  "col.actions": "操作",

  "dir.entry": "入口",
  "dir.exit": "出口",
  "online.true": "在线",
  "online.false": "离线",
  "gate.down": "已落杆",
  "gate.rising": "抬杆中",
  "gate.up": "已抬杆",
  "gate.falling": "落杆中",
  "gate.unknown": "未知",

  "plate.none": "暂无车辆",
  "plate.unlicensed": "无牌车",
  "plate.low": "低置信度",
  "plate.invalid": "车牌格式异常",
  "plate.confidence": "置信度 {p}%",
  "plate.colour.blue": "蓝牌",
  "plate.colour.yellow": "黄牌",
  "plate.colour.green": "绿牌（新能源）",
  "plate.colour.yellow_green": "黄绿牌（新能源）",
  "plate.colour.white": "白牌",
  "plate.colour.black": "黑牌",
  "plate.colour.unknown": "颜色未知",
  "snapshot.alt": "{lane} 抓拍图",
  "snapshot.none": "无抓拍",
  "call.active": "呼叫 {time}",
  "none": "—",

  "action.open": "开闸",
  "action.display": "显示屏",
  "action.live": "画面",

  "live.title": "实时画面",
  "live.close": "关闭画面",
  "live.state.closed": "已关闭",
  "live.state.new": "准备连接",
  "live.state.connecting": "连接中…",
  "live.state.connected": "已连接",
  "live.state.disconnected": "连接中断",
  "live.state.failed": "连接失败",
  "live.state.offline": "车道离线",
  "live.state.camera_down": "摄像机故障",
  "live.state.error": "无法打开画面",
  "live.msg.offline": "车道离线，没有实时画面。车道恢复在线后将自动重新连接。",
  "live.msg.camera_down": "车道摄像机无法工作，画面不是实时的，请勿据此判断现场情况",
  "live.msg.reconnecting": "与车道的视频连接中断，正在自动重新连接…",
  "live.fresh.waiting": "等待画面…",
  "live.fresh.started": "实时",
  "live.fresh.live": "实时 · {fps} 帧/秒 · 缓冲 {buffer} 毫秒",
  "live.fresh.stale": "画面中断 · {s} 秒无新帧",
  "live.fresh.offline": "车道离线",
  "live.mute": "静音",
  "intercom.start": "开始对讲",
  "intercom.end": "结束对讲",
  "intercom.busy": "{holder} 正在与该车道对讲，请稍后再试",
  "listen.toggle": "监听车道",
  "talk.hold": "按住说话（空格）",
  "talk.latch": "锁定通话",
  "meter.out": "我方话筒",
  "meter.in": "车道声音",

  "dialog.cancel": "取消",
  "dialog.close": "关闭",

  "open.title": "远程开闸",
  "open.reason": "开闸原因",
  "open.reason.placeholder": "请选择原因",
  "open.note": "备注",
  "open.note.optional": "（选填）",
  "open.note.required": "（必填）",
  "open.note.count": "{n}/{max}",
  "open.confirm": "确认开闸",
  "open.err.reason": "请选择开闸原因",
  "open.err.note": "原因为“其他”时必须填写备注",
  "open.err.note_long": "备注不能超过 {max} 个字",
  "open.last_vehicle": "最近车辆：",

  "display.title": "发送显示屏文字",
  "display.line": "第 {n} 行",
  "display.hint": "最多 {lines} 行，每行不超过 {max} 个字",
  "display.confirm": "发送",
  "display.err.empty": "请至少输入一行文字",
  "display.err.long": "每行不能超过 {max} 个字",

  "outcome.pending": "正在等待车道响应…",
  "outcome.done": "已开闸",
  "outcome.display_done": "显示屏已更新",
  "outcome.refused": "车道控制器拒绝执行",
  "outcome.timeout": "车道未在规定时间内确认，请通过视频核实道闸状态",
  "outcome.lane_offline": "车道离线，命令未送达",
  "outcome.unknown": "未知结果：{outcome}",

  "error.bad_request": "请求无效",
  "error.invalid_reason": "开闸原因无效",
  "error.note_required": "需要填写备注",
  "error.forbidden": "无权执行此操作",
  "error.csrf": "安全校验失败，请刷新页面后重试",
  "error.unknown_lane": "车道不存在",
  "error.lane_offline": "车道离线",
  "error.unauthorized": "登录已失效",
  "error.network": "无法连接服务器，请检查网络",
  "error.client_timeout": "服务器长时间无响应",
  "error.intercom_busy": "对讲正被他人使用",
  "error.malformed_sdp": "浏览器的连接请求无效",
  "error.offer_mismatch": "浏览器的连接请求与所需媒体不符",
  "error.h264_required": "无法协商 H.264 视频",
  "error.h264_unsupported": "此浏览器无法解码 H.264 视频，请换用 Chrome 或 Edge",
  "error.opus_unsupported": "此浏览器不支持 Opus 音频",
  "error.webrtc_failed": "视频连接建立失败",
  "error.microphone_unavailable": "无法使用麦克风，请检查设备和浏览器权限",
  "error.audit_failed": "审计日志无法记录，操作未执行",
  "error.invalid_username": "用户名格式不正确",
  "error.unknown_viewer": "该画面连接已结束",
  "error.display_too_large": "文字超出该车道显示屏的容量",
  "error.generic": "操作失败（{code}）",

  "audit.title": "审计日志",
  "audit.more": "加载更多",
  "audit.loading": "加载中…",
  "audit.empty": "暂无记录",
  "audit.end": "已到最早的记录",
  "audit.col.seq": "序号",
  "audit.col.at": "时间",
  "audit.col.actor": "操作人",
  "audit.col.action": "动作",
  "audit.col.lane": "车道",
  "audit.col.reason": "原因",
  "audit.col.outcome": "结果",
  "audit.col.note": "备注 / 详情",

  "audit.action.login": "登录",
  "audit.action.login_failed": "登录失败",
  "audit.action.login_attack": "登录攻击告警",
  "audit.action.logout": "退出登录",
  "audit.action.user_added": "添加用户",
  "audit.action.user_changed": "修改用户",
  "audit.action.lane_added": "添加车道",
  "audit.action.lane_token_rotated": "更换车道密钥",
  "audit.action.gate_open_requested": "请求开闸",
  "audit.action.gate_open_outcome": "开闸结果",
  "audit.action.display_requested": "请求显示",
  "audit.action.display_outcome": "显示结果",
  "audit.action.centre_started": "中心启动",
  "audit.action.watch_started": "开始查看画面",
  "audit.action.watch_ended": "结束查看画面",
  "audit.action.intercom_started": "开始对讲",
  "audit.action.intercom_ended": "结束对讲",

  "audit.outcome.done": "成功",
  "audit.outcome.refused": "被拒绝",
  "audit.outcome.timeout": "超时",
  "audit.outcome.lane_offline": "车道离线",

  "reason.paid_not_lifted": "已缴费未抬杆",
  "reason.no_entry_record": "无入场记录",
  "reason.free_release": "免费放行",
  "reason.plate_misread": "车牌识别错误",
  "reason.equipment_fault": "设备故障",
  "reason.emergency": "紧急情况（救护/消防）",
  "reason.escape_recovered": "逃逸追缴已处理",
  "reason.other": "其他（需备注）",
};

const en = {
  "app.title": "Remote seat",
  "app.loading": "Loading…",
  "lang.switch": "中文",
  "lang.switch.label": "Switch language",
  "logout": "Log out",
  "user.label": "Signed in as",

  "conn.idle": "Not connected",
  "conn.connecting": "Connecting…",
  "conn.open": "Live",
  "conn.reconnecting": "Reconnecting…",
  "banner.reconnecting": "Live connection to the server lost — reconnecting… (data on screen may be stale)",
  "attack.username": "Login attack: account {username} has had {users} wrong passwords recently (the latest from {remote})",
  "attack.address": "Login attack: address {remote} has given {addresses} wrong passwords (latest for account {username})",
  "attack.dismiss": "Dismiss",

  "role.agent": "Agent",
  "role.supervisor": "Supervisor",
  "role.admin": "Administrator",

  "tab.lanes": "Lanes",
  "tab.audit": "Audit log",
  "tabs.label": "Views",

  "login.title": "Agent sign-in",
  "login.username": "Username",
  "login.password": "Password",
  "login.submit": "Sign in",
  "login.busy": "Signing in…",
  "login.missing": "Enter your username and password",
  "login.bad_credentials": "Wrong username or password",
  "login.throttled": "Too many attempts, try again in {n} s",
  "login.server_busy": "The server is busy, try again in {n} s",
  "login.expired": "Your session has expired; please sign in again",
  "login.logged_out": "Logged out",

  "lanes.title": "Lanes",
  "lanes.empty": "No lanes",
  "lanes.loading": "Loading lanes…",
  "lanes.online_count": "Online {online}/{total}",
  "col.lane": "Lane",
  "col.status": "Status",
  "col.gate": "Barrier",
  "col.vehicle": "Last vehicle",
  "col.call": "Call",
  "col.fault": "Fault",
  "col.actions": "Actions",

  "dir.entry": "Entry",
  "dir.exit": "Exit",
  "online.true": "Online",
  "online.false": "Offline",
  "gate.down": "Down",
  "gate.rising": "Rising",
  "gate.up": "Up",
  "gate.falling": "Falling",
  "gate.unknown": "Unknown",

  "plate.none": "No vehicle yet",
  "plate.unlicensed": "No plate",
  "plate.low": "Low confidence",
  "plate.invalid": "Invalid plate",
  "plate.confidence": "Confidence {p}%",
  "plate.colour.blue": "Blue plate",
  "plate.colour.yellow": "Yellow plate",
  "plate.colour.green": "Green plate (new energy)",
  "plate.colour.yellow_green": "Yellow-green plate (new energy)",
  "plate.colour.white": "White plate",
  "plate.colour.black": "Black plate",
  "plate.colour.unknown": "Unknown colour",
  "snapshot.alt": "Snapshot, {lane}",
  "snapshot.none": "No snapshot",
  "call.active": "Call {time}",
  "none": "—",

  "action.open": "Open gate",
  "action.display": "Display",
  "action.live": "Live",

  "live.title": "Live view",
  "live.close": "Close view",
  "live.state.closed": "Closed",
  "live.state.new": "Starting",
  "live.state.connecting": "Connecting…",
  "live.state.connected": "Connected",
  "live.state.disconnected": "Connection lost",
  "live.state.failed": "Connection failed",
  "live.state.offline": "Lane offline",
  "live.state.camera_down": "Camera down",
  "live.state.error": "Cannot show the lane",
  "live.msg.offline": "The lane is offline: no live picture. The view reconnects when the lane is back.",
  "live.msg.camera_down": "The lane camera is not working: this picture is not live, do not judge the lane by it",
  "live.msg.reconnecting": "The video connection to the lane dropped; reconnecting…",
  "live.fresh.waiting": "Waiting for the picture…",
  "live.fresh.started": "Live",
  "live.fresh.live": "Live · {fps} fps · buffer {buffer} ms",
  "live.fresh.stale": "Picture interrupted · no new frame for {s} s",
  "live.fresh.offline": "Lane offline",
  "live.mute": "Mute",
  "intercom.start": "Start intercom",
  "intercom.end": "End intercom",
  "intercom.busy": "{holder} is on this lane's intercom; try again later",
  "listen.toggle": "Listen in",
  "talk.hold": "Hold to talk (Space)",
  "talk.latch": "Keep talking",
  "meter.out": "Your microphone",
  "meter.in": "Lane audio",

  "dialog.cancel": "Cancel",
  "dialog.close": "Close",

  "open.title": "Open gate remotely",
  "open.reason": "Reason",
  "open.reason.placeholder": "Choose a reason",
  "open.note": "Note",
  "open.note.optional": "(optional)",
  "open.note.required": "(required)",
  "open.note.count": "{n}/{max}",
  "open.confirm": "Open gate",
  "open.err.reason": "Choose a reason",
  "open.err.note": "A note is required when the reason is “Other”",
  "open.err.note_long": "The note must be at most {max} characters",
  "open.last_vehicle": "Last vehicle: ",

  "display.title": "Send text to the lane display",
  "display.line": "Line {n}",
  "display.hint": "Up to {lines} lines of at most {max} characters",
  "display.confirm": "Send",
  "display.err.empty": "Enter at least one line",
  "display.err.long": "Each line must be at most {max} characters",

  "outcome.pending": "Waiting for the lane…",
  "outcome.done": "Gate opened",
  "outcome.display_done": "Display updated",
  "outcome.refused": "Refused by the lane controller",
  "outcome.timeout": "The lane did not confirm in time — check the barrier on video",
  "outcome.lane_offline": "Lane offline — command not delivered",
  "outcome.unknown": "Unknown outcome: {outcome}",

  "error.bad_request": "Invalid request",
  "error.invalid_reason": "Invalid reason",
  "error.note_required": "A note is required",
  "error.forbidden": "You are not allowed to do this",
  "error.csrf": "Security check failed; reload the page and try again",
  "error.unknown_lane": "Unknown lane",
  "error.lane_offline": "Lane offline",
  "error.unauthorized": "Session expired",
  "error.network": "Cannot reach the server",
  "error.client_timeout": "The server did not answer in time",
  "error.intercom_busy": "The intercom is in use",
  "error.malformed_sdp": "The browser's connection request is invalid",
  "error.offer_mismatch": "The browser's connection request does not match the media wanted",
  "error.h264_required": "H.264 video could not be negotiated",
  "error.h264_unsupported": "This browser cannot decode H.264 video; use Chrome or Edge",
  "error.opus_unsupported": "This browser does not support Opus audio",
  "error.webrtc_failed": "The video connection could not be set up",
  "error.microphone_unavailable": "The microphone cannot be used; check the device and the browser's permission",
  "error.audit_failed": "The audit log could not record it, so nothing was done",
  "error.invalid_username": "That is not a valid username",
  "error.unknown_viewer": "That view has already ended",
  "error.display_too_large": "The text does not fit this lane's display",
  "error.generic": "Failed ({code})",

  "audit.title": "Audit log",
  "audit.more": "Load more",
  "audit.loading": "Loading…",
  "audit.empty": "No entries",
  "audit.end": "No older entries",
  "audit.col.seq": "Seq",
  "audit.col.at": "Time",
  "audit.col.actor": "Actor",
  "audit.col.action": "Action",
  "audit.col.lane": "Lane",
  "audit.col.reason": "Reason",
  "audit.col.outcome": "Outcome",
  "audit.col.note": "Note / details",

  "audit.action.login": "Sign-in",
  "audit.action.login_failed": "Failed sign-in",
  "audit.action.login_attack": "Login attack alert",
  "audit.action.logout": "Sign-out",
  "audit.action.user_added": "User added",
  "audit.action.user_changed": "User changed",
  "audit.action.lane_added": "Lane added",
  "audit.action.lane_token_rotated": "Lane token rotated",
  "audit.action.gate_open_requested": "Gate open requested",
  "audit.action.gate_open_outcome": "Gate open outcome",
  "audit.action.display_requested": "Display requested",
  "audit.action.display_outcome": "Display outcome",
  "audit.action.centre_started": "Centre started",
  "audit.action.watch_started": "Live view opened",
  "audit.action.watch_ended": "Live view closed",
  "audit.action.intercom_started": "Intercom started",
  "audit.action.intercom_ended": "Intercom ended",

  "audit.outcome.done": "Done",
  "audit.outcome.refused": "Refused",
  "audit.outcome.timeout": "Timed out",
  "audit.outcome.lane_offline": "Lane offline",

  "reason.paid_not_lifted": "Paid but barrier did not lift",
  "reason.no_entry_record": "No entry record",
  "reason.free_release": "Free release",
  "reason.plate_misread": "Plate misread",
  "reason.equipment_fault": "Equipment fault",
  "reason.emergency": "Emergency (ambulance, fire)",
  "reason.escape_recovered": "Escape fee recovered",
  "reason.other": "Other (note required)",
};

const DICTS = { "zh-CN": zh, en };
const listeners = new Set();

function storedLang() {
  try {
    const value = localStorage.getItem(STORAGE_KEY);
    return LANGS.includes(value) ? value : null;
  } catch {
    return null; // storage may be disabled by policy; the default still works
  }
}

let current = storedLang() ?? "zh-CN";

export function lang() {
  return current;
}

/** Translate `key`, filling `{name}` placeholders from `params`. */
export function t(key, params = {}) {
  const text = DICTS[current][key] ?? zh[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.hasOwn(params, name) ? String(params[name]) : whole,
  );
}

/** Translate `prefix + value` if such a key exists, else show the raw value. */
export function label(prefix, value) {
  const key = prefix + value;
  return Object.hasOwn(DICTS[current], key) || Object.hasOwn(zh, key) ? t(key) : String(value);
}

/** Human text for a failed request: the translated code, then the server's detail (an ApiError). */
export function errorText(error) {
  const known = label("error.", error.code);
  const head = known === error.code ? t("error.generic", { code: error.code }) : known;
  return error.detail && error.status > 0 ? `${head}：${error.detail}` : head;
}

export function applyStatic(root = document) {
  for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
  for (const el of root.querySelectorAll("[data-i18n-label]")) {
    el.setAttribute("aria-label", t(el.dataset.i18nLabel));
  }
  for (const el of root.querySelectorAll("[data-i18n-title]")) {
    el.setAttribute("title", t(el.dataset.i18nTitle));
  }
}

export function setLang(next) {
  if (!LANGS.includes(next) || next === current) return;
  current = next;
  try {
    localStorage.setItem(STORAGE_KEY, next);
  } catch {
    // not remembered, but the switch still works for this page
  }
  document.documentElement.lang = next;
  applyStatic();
  for (const fn of listeners) fn(next);
}

export function onLangChange(fn) {
  listeners.add(fn);
}
