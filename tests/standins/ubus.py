"""DOUBLE of python3-ubus (module `ubus`). NOT the real binding, and no ubusd behind it.

Used only by `make bench` (tests/benchlib/serve_idle.py: the resident service's memory where
no ubusd runs). Every test of the ubus door uses the real binding and ubusd of the OpenWrt
kit; tests/test_ubus_double.py holds this double to the real module (same functions and
constants, the same calls and misuses answered alike).

It mirrors the module API and the argument checks of python-ubus's ubus_python.c
(Stepan Henek, CZ.NIC; packaged in openwrt/packages as python3-ubus) so that
tests of ubus_api.py fail where the real binding would refuse a call:

* module functions connect(socket_path=...), disconnect(deregister=True),
  get_connected(), get_socket_path(), add(object_name, methods), call(object,
  method, arguments, timeout=0), send(event, data), listen((event, cb), ...),
  objects(path='*'), loop(timeout=-1) and the BLOBMSG_TYPE_* constants
  (libubox blobmsg.h: UNSPEC 0, ARRAY 1, TABLE 2, STRING 3, INT64 4, INT32 5,
  INT16 6, INT8 7 = BOOL, DOUBLE 8);
* add() checks the methods dict like test_methods_argument(): each value is a
  dict of exactly the two keys 'signature' and 'method', the signature maps str
  to an int type in 0..BLOBMSG_TYPE_LAST, the method is callable -> TypeError;
* a call is checked like test_policies(): every argument must be declared
  (undeclared -> UBUS_STATUS_INVALID_ARGUMENT), its blobmsg type must equal the
  declared one unless that is UNSPEC, and every declared argument must be present;
* arguments and replies travel as JSON the way blobmsg_add_json_from_string does
  it: the top level must be an object (a reply that is not one raises TypeError),
  JSON integers become INT32 when they fit, else INT64, booleans BOOL;
* a callback that raises gives UBUS_STATUS_UNKNOWN_ERROR; call() raises
  RuntimeError("ubus error occured: <ubus_strerror>") for any status but OK.

Test hooks (not in the real module) start with `standin_`.
"""

import json

BLOBMSG_TYPE_UNSPEC = 0
BLOBMSG_TYPE_ARRAY = 1
BLOBMSG_TYPE_TABLE = 2
BLOBMSG_TYPE_STRING = 3
BLOBMSG_TYPE_INT64 = 4
BLOBMSG_TYPE_INT32 = 5
BLOBMSG_TYPE_INT16 = 6
BLOBMSG_TYPE_INT8 = 7
BLOBMSG_TYPE_BOOL = BLOBMSG_TYPE_INT8
BLOBMSG_TYPE_DOUBLE = 8
_BLOBMSG_TYPE_LAST = BLOBMSG_TYPE_DOUBLE

# libubus enum ubus_msg_status and __ubus_strerror
UBUS_STATUS_OK = 0
UBUS_STATUS_INVALID_COMMAND = 1
UBUS_STATUS_INVALID_ARGUMENT = 2
UBUS_STATUS_METHOD_NOT_FOUND = 3
UBUS_STATUS_NOT_FOUND = 4
UBUS_STATUS_NO_DATA = 5
UBUS_STATUS_PERMISSION_DENIED = 6
UBUS_STATUS_TIMEOUT = 7
UBUS_STATUS_NOT_SUPPORTED = 8
UBUS_STATUS_UNKNOWN_ERROR = 9
STRERROR = {0: "Success", 1: "Invalid command", 2: "Invalid argument",
            3: "Method not found", 4: "Not found", 5: "No response",
            6: "Permission denied", 7: "Request timed out", 8: "Operation not supported",
            9: "Unknown error"}

DEFAULT_SOCKET = "/var/run/ubus/ubus.sock"
MSG_ADD_SIGNATURE_INVALID = ("Incorrect method arguments!\nExpected:\n\t(<obj_name>, { "
                             "<method_name>: {'signature': <method_signature>, "
                             "'method': <callable>}, ...})")
MSG_NOT_CONNECTED = "You are not connected to ubus."
MSG_ALREADY_CONNECTED = "You are already connected to ubus."


class _State:
    def __init__(self):
        self.socket_path = None
        self.objects = {}           # name -> methods dict (as given to add)
        self.listeners = []         # (event pattern, callback)
        self.events = []            # (event, data) sent by this process
        self.pending = []           # calls loop() delivers: (object, method, arguments)
        self.loop_replies = []      # (object, method, status, [replies]) from loop()
        self.remote = {}            # objects of other processes: name -> fn(method, args)


_state = None
_last = None                    # the state of the last connection, for the test hooks


def _connected():
    if _state is None:
        raise RuntimeError(MSG_NOT_CONNECTED)


# --- the module API ----------------------------------------------------------

def connect(socket_path=None):
    global _state
    if _state is not None:
        raise RuntimeError(MSG_ALREADY_CONNECTED)
    if socket_path is not None and not isinstance(socket_path, str):
        raise TypeError("argument 1 must be str, not " + type(socket_path).__name__)
    _state = _State()
    _state.socket_path = socket_path or DEFAULT_SOCKET
    return True


def disconnect(deregister=True):
    global _state, _last
    _connected()
    if not isinstance(deregister, bool):
        raise TypeError("argument 1 must be bool, not " + type(deregister).__name__)
    _last, _state = _state, None


def get_connected():
    return _state is not None


def get_socket_path():
    return _state.socket_path if _state is not None else None


def _methods_ok(methods):
    """test_methods_argument() of ubus_python.c."""
    if not isinstance(methods, dict):
        return False
    for name, value in methods.items():
        if not isinstance(name, str) or not isinstance(value, dict) or len(value) != 2:
            return False
        signature = value.get("signature")
        if not isinstance(signature, dict):
            return False
        for arg, kind in signature.items():
            if not isinstance(arg, str) or not isinstance(kind, int) or isinstance(kind, bool):
                return False
            if kind < 0 or kind > _BLOBMSG_TYPE_LAST:
                return False
        if not callable(value.get("method")):
            return False
    return True


def add(object_name, methods):
    _connected()
    if not isinstance(object_name, str) or not _methods_ok(methods):
        raise TypeError(MSG_ADD_SIGNATURE_INVALID)
    if object_name in _state.objects or object_name in _state.remote:
        raise RuntimeError("ubus error occured: Invalid argument")
    _state.objects[object_name] = methods
    return None


def objects(path="*"):
    _connected()
    out = {}
    for name, methods in _state.objects.items():
        if path == "*" or path == name or (path.endswith("*") and name.startswith(path[:-1])):
            out[name] = dict((m, dict(v["signature"])) for m, v in methods.items())
    return out


def send(event, data):
    _connected()
    if not isinstance(event, str):
        raise TypeError("argument 1 must be str")
    data = _as_blobmsg(data)
    _state.events.append((event, data))
    for pattern, callback in list(_state.listeners):
        if pattern == event or (pattern.endswith("*") and event.startswith(pattern[:-1])):
            callback(event, data)
    return True


def listen(*events):
    _connected()
    if not events:
        raise TypeError("You need to set at least one event.")
    for item in events:
        if (not isinstance(item, tuple) or len(item) != 2 or not isinstance(item[0], str)
                or not callable(item[1])):
            raise TypeError("Expected (event, callback) tuple")
    _state.listeners.extend(events)


def call(object, method, arguments, timeout=0):   # noqa: A002  (the real keyword is "object")
    _connected()
    if not isinstance(object, str) or not isinstance(method, str):
        raise TypeError("argument must be str")
    if not isinstance(timeout, int) or timeout < 0:
        raise TypeError("timeout can't be lower than 0")
    if object not in _state.objects and object not in _state.remote:
        raise RuntimeError("Object '%s' was not found." % object)
    status, replies = _invoke(object, method, _as_blobmsg(arguments))
    if status != UBUS_STATUS_OK:
        raise RuntimeError("ubus error occured: " + STRERROR[status])
    return replies


def loop(timeout=-1):
    """Deliver the calls queued with standin_queue(), then return (as uloop does on SIGTERM)."""
    _connected()
    if not isinstance(timeout, int) or isinstance(timeout, bool):
        raise TypeError("an integer is required")
    while _state is not None and _state.pending:
        obj, method, arguments = _state.pending.pop(0)
        status, replies = _invoke(obj, method, _as_blobmsg(arguments))
        _state.loop_replies.append((obj, method, status, replies))
    return None


# --- what ubusd + ubus_python_method_handler do with one call ----------------

def _blobmsg_type(value):
    if isinstance(value, bool):
        return BLOBMSG_TYPE_BOOL
    if isinstance(value, int):
        return BLOBMSG_TYPE_INT32 if -2 ** 31 <= value < 2 ** 31 else BLOBMSG_TYPE_INT64
    if isinstance(value, float):
        return BLOBMSG_TYPE_DOUBLE
    if isinstance(value, str):
        return BLOBMSG_TYPE_STRING
    if isinstance(value, dict):
        return BLOBMSG_TYPE_TABLE
    if isinstance(value, list):
        return BLOBMSG_TYPE_ARRAY
    return BLOBMSG_TYPE_UNSPEC          # JSON null


def _as_blobmsg(data):
    """json.dumps then blobmsg_add_json_from_string: only a JSON object converts."""
    text = json.dumps(data)
    decoded = json.loads(text)
    if not isinstance(decoded, dict):
        raise TypeError("Failed to create json for ubus.")
    return decoded


def _policies_ok(signature, arguments):
    """test_policies(): all arguments declared, types equal unless UNSPEC, all present."""
    passed = 0
    for name, value in arguments.items():
        if name not in signature:
            return False
        passed += 1
        kind = signature[name]
        if kind != BLOBMSG_TYPE_UNSPEC and kind != _blobmsg_type(value):
            return False
    return passed == len(signature)


class _ResponseHandler:
    def __init__(self):
        self.replies = []
        self.linked = True

    def reply(self, data):
        if not self.linked:
            raise RuntimeError("Handler is not linked to a call response.")
        self.replies.append(_as_blobmsg(data))
        return True


def _invoke(obj, method, arguments):
    if obj in _state.remote:
        return _state.remote[obj](method, arguments)
    methods = _state.objects[obj]
    if method not in methods:
        return UBUS_STATUS_METHOD_NOT_FOUND, []
    if not _policies_ok(methods[method]["signature"], arguments):
        return UBUS_STATUS_INVALID_ARGUMENT, []
    handler = _ResponseHandler()
    try:
        methods[method]["method"](handler, arguments)
    except Exception:           # the real binding prints the traceback, then answers 9
        return UBUS_STATUS_UNKNOWN_ERROR, handler.replies
    finally:
        handler.linked = False
    return UBUS_STATUS_OK, handler.replies


# --- test hooks ----------------------------------------------------------------

def standin_reset():
    global _state, _last
    _state = _last = None


def standin_invoke(obj, method, arguments):
    """(status, replies) of one call as another ubus client sees it, without raising."""
    _connected()
    if obj not in _state.objects and obj not in _state.remote:
        return UBUS_STATUS_NOT_FOUND, []
    return _invoke(obj, method, _as_blobmsg(arguments))


def standin_queue(obj, method, arguments):
    """A call that arrives while loop() runs (loop() then returns, like on SIGTERM)."""
    _connected()
    _state.pending.append((obj, method, arguments))


def _current():
    return _state if _state is not None else _last


def standin_events():
    """(event, data) sent on this or the last connection."""
    return list(_current().events) if _current() is not None else []


def standin_loop_replies():
    """(object, method, status, replies) of the calls loop() delivered."""
    return list(_current().loop_replies) if _current() is not None else []
