# A local stand-in for the OpenAI and Anthropic HTTP APIs, for recording
# the README transcript. Canned answers, honest-looking usage.
import json, sys, time
from http.server import BaseHTTPRequestHandler, HTTPServer

OUTLINE = "- Every step's result is written to disk as it finishes.\n- A crashed or failed run resumes from the last finished step.\n- Replay re-runs only what changed, so no model call is paid twice."
DRAFT = {
 "openai": "Durable execution means an AI agent's work survives failures: each step's result is saved the moment it finishes, so a crash, a timeout or a bad prompt costs only the step that went wrong. Resume picks up where the run stopped; replay re-runs a chosen step and everything after it, reusing every recorded model call before it.",
 "anthropic": "An agent that calls models for minutes at a time will fail sooner or later. Durable execution records every finished step, so the run restarts where it stopped rather than from the beginning, and a replay from one step reuses all the paid-for calls upstream of it.",
}

def words(s): return max(1, len(s.split()) * 4 // 3)

class H(BaseHTTPRequestHandler):
    def log_message(self, *a): pass
    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        msgs = body.get("messages", [])
        text = json.dumps(msgs) + json.dumps(body.get("system", ""))
        kind = "anthropic" if self.path.endswith("/messages") else "openai"
        ans = OUTLINE if "outline about" in text else DRAFT[kind]
        tin, tout = words(text), words(ans)
        time.sleep(0.6)
        if kind == "openai":
            out = {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
                   "choices": [{"index": 0, "message": {"role": "assistant", "content": ans}, "finish_reason": "stop"}],
                   "usage": {"prompt_tokens": tin, "completion_tokens": tout, "total_tokens": tin + tout}}
        else:
            out = {"id": "msg_1", "type": "message", "role": "assistant", "model": body.get("model"),
                   "content": [{"type": "text", "text": ans}], "stop_reason": "end_turn",
                   "usage": {"input_tokens": tin, "output_tokens": tout}}
        b = json.dumps(out).encode()
        self.send_response(200); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)

HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
