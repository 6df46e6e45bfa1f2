"""A component holds at most ``max_websockets`` open sockets; one more is told why and closed."""

import json

import websocket

from tests.support import ServiceProcess, wait_until


def test_a_socket_past_the_limit_gets_503_and_1013(tmp_path):
    service = ServiceProcess.component("test", tmp_path, extra_args=["--max-websockets", "2"])
    service.wait_ready()
    url = f"ws://127.0.0.1:{service.port}/api/test/ws"
    held = []
    try:
        for _ in range(2):
            held.append(websocket.create_connection(url, timeout=10))
            assert json.loads(held[-1].recv())["type"] == "subscribed"
        extra = websocket.create_connection(url, timeout=10)
        error = json.loads(extra.recv())
        assert error["status"] == 503 and "2 WebSockets are already running" in error["message"]
        opcode, data = extra.recv_data(control_frame=True)
        assert opcode == websocket.ABNF.OPCODE_CLOSE and int.from_bytes(data[:2], "big") == 1013
        held.pop().close()

        def reopened():
            again = websocket.create_connection(url, timeout=10)
            held.append(again)
            return json.loads(again.recv()).get("type") == "subscribed"

        wait_until(reopened, timeout=10, interval=0.2, message="the freed slot taken")
    finally:
        for ws in held:
            ws.close()
        service.stop()
