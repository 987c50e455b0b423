/* The compiled build's decoding of the frames a WebSocket carries most: _frames._plain in C,
 * with _frames._unmask, the unmasking of any other frame's payload; each gives what the
 * Python function gives, on every input (tests/core/websocket/test_mask_kernel.py holds
 * them to it on generated frames).
 *
 * plain(view, pos, events, max_size, masked) decodes, from pos on, the frames that are a
 * whole text or binary message each (0x81, 0x82: FIN, no extension bits), masked as masked
 * says, at most max_size bytes and, text, UTF-8; it appends their events to events and
 * gives the position of the first frame that is not one of them or not all there. Where the
 * Python passes shift a big integer over the payload four times (two from_bytes, a multiply,
 * an XOR, a to_bytes) and decode the bytes they made, this reads the payload once, eight
 * bytes at a time, into the bytes or str it gives. Whatever it stops at, FrameDecoder.feed
 * reads its own way: it raises what a frame breaks, and waits for the rest of one that is
 * not all there. The pure build never loads this module (workerman/core/_extensions.py),
 * and runs the Python functions.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

static PyObject *op_text;   /* OP_TEXT, 1 */
static PyObject *op_binary; /* OP_BINARY, 2 */

/* out[i] = in[i] ^ key[i % 4], a word at a time (memcpy: no alignment is assumed) */
static void
xor_into(unsigned char *out, const unsigned char *in, Py_ssize_t n, const unsigned char *key)
{
    uint32_t half;
    memcpy(&half, key, 4);
    uint64_t word_key = (uint64_t)half << 32 | half;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, in + i, 8);
        word ^= word_key;
        memcpy(out + i, &word, 8);
    }
    for (; i < n; i++) {
        out[i] = in[i] ^ key[i & 3];
    }
}

static int
is_ascii(const unsigned char *s, Py_ssize_t n)
{
    uint64_t seen = 0;
    Py_ssize_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, s + i, 8);
        seen |= word;
    }
    for (; i < n; i++) {
        seen |= s[i];
    }
    return (seen & 0x8080808080808080ULL) == 0;
}

/* The payload of n bytes at in as bytes, unmasked with key (NULL: not masked). */
static PyObject *
payload_bytes(const unsigned char *in, Py_ssize_t n, const unsigned char *key)
{
    if (key == NULL) {
        return PyBytes_FromStringAndSize((const char *)in, n);
    }
    PyObject *payload = PyBytes_FromStringAndSize(NULL, n);
    if (payload != NULL) {
        xor_into((unsigned char *)PyBytes_AS_STRING(payload), in, n, key);
    }
    return payload;
}

/* The payload as str, what bytes.decode() makes of it: a UnicodeDecodeError for bytes that
 * are not UTF-8. Masked ASCII, the common text, is unmasked straight into its str. */
static PyObject *
payload_text(const unsigned char *in, Py_ssize_t n, const unsigned char *key)
{
    if (key == NULL) {
        return PyUnicode_DecodeUTF8((const char *)in, n, NULL);
    }
    if (n == 0) {
        return PyUnicode_New(0, 0);
    }
    PyObject *text = PyUnicode_New(n, 127);
    if (text == NULL) {
        return NULL;
    }
    unsigned char *out = PyUnicode_1BYTE_DATA(text);
    xor_into(out, in, n, key);
    if (is_ascii(out, n)) {
        return text;
    }
    /* not ASCII: decoded from the unmasked bytes, the str that held them dropped unused */
    PyObject *decoded = PyUnicode_DecodeUTF8((const char *)out, n, NULL);
    Py_DECREF(text);
    return decoded;
}

static int
size_of(PyObject *number, long long *out)
{
    int overflow = 0;
    long long value = PyLong_AsLongLongAndOverflow(number, &overflow);
    if (value == -1 && PyErr_Occurred()) {
        return -1;
    }
    /* past what a long long holds: more than any frame, or less than none */
    *out = overflow > 0 ? LLONG_MAX : overflow < 0 ? -1 : value;
    return 0;
}

static PyObject *
mask_plain(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 5 || !PyBytes_Check(args[0]) || !PyLong_Check(args[1]) ||
        !PyList_Check(args[2]) || !PyLong_Check(args[3])) {
        PyErr_SetString(PyExc_TypeError,
                        "plain(view, pos, events, max_size, masked) takes bytes, an int, a "
                        "list, an int and a bool");
        return NULL;
    }
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    Py_ssize_t end = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (pos < 0 || pos > end) {
        PyErr_SetString(PyExc_ValueError, "pos is not within view");
        return NULL;
    }
    PyObject *events = args[2];
    long long max_size;
    if (size_of(args[3], &max_size) < 0) {
        return NULL;
    }
    int masked = PyObject_IsTrue(args[4]);
    if (masked < 0) {
        return NULL;
    }
    unsigned char mask_bit = masked ? 0x80 : 0;
    Py_ssize_t key_len = masked ? 4 : 0;

    while (end - pos >= 2) {
        unsigned char b0 = s[pos];
        if (b0 != 0x81 && b0 != 0x82) {
            break;
        }
        unsigned char b1 = s[pos + 1];
        if ((b1 & 0x80) != mask_bit) {
            break;
        }
        uint64_t length = b1 & 0x7F;
        Py_ssize_t start = pos + 2 + key_len;
        if (length == 126) {
            if (end - pos < 4) {
                break;
            }
            length = (uint64_t)s[pos + 2] << 8 | s[pos + 3];
            start += 2;
        }
        else if (length == 127) {
            if (end - pos < 10) {
                break;
            }
            length = 0;
            for (int k = 2; k < 10; k++) {
                length = length << 8 | s[pos + k];
            }
            start += 8;
        }
        if (max_size < 0 || length > (uint64_t)max_size || start > end ||
            length > (uint64_t)(end - start)) {
            break; /* too big, or not all here */
        }
        Py_ssize_t n = (Py_ssize_t)length;
        const unsigned char *key = masked ? s + start - 4 : NULL;
        PyObject *payload;
        PyObject *opcode;
        if (b0 == 0x82) {
            payload = payload_bytes(s + start, n, key);
            opcode = op_binary;
        }
        else {
            payload = payload_text(s + start, n, key);
            opcode = op_text;
        }
        if (payload == NULL) {
            if (b0 == 0x81 && PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) {
                PyErr_Clear(); /* not UTF-8: feed raises its 1007 */
                break;
            }
            return NULL;
        }
        PyObject *event = PyTuple_New(2);
        if (event == NULL) {
            Py_DECREF(payload);
            return NULL;
        }
        Py_INCREF(opcode);
        PyTuple_SET_ITEM(event, 0, opcode);
        PyTuple_SET_ITEM(event, 1, payload);
        int failed = PyList_Append(events, event);
        Py_DECREF(event);
        if (failed) {
            return NULL;
        }
        pos = start + n;
    }
    return PyLong_FromSsize_t(pos);
}

/* unmask(view, start, stop): _frames._unmask in C. The payload view[start:stop] unmasked
 * with the key of the four bytes before it. */
static PyObject *
mask_unmask(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyBytes_Check(args[0])) {
        PyErr_SetString(PyExc_TypeError, "unmask(view, start, stop) takes bytes and two ints");
        return NULL;
    }
    Py_ssize_t start = PyLong_AsSsize_t(args[1]);
    if (start == -1 && PyErr_Occurred()) {
        return NULL;
    }
    Py_ssize_t stop = PyLong_AsSsize_t(args[2]);
    if (stop == -1 && PyErr_Occurred()) {
        return NULL;
    }
    if (start < 4 || stop < start || stop > PyBytes_GET_SIZE(args[0])) {
        PyErr_SetString(PyExc_ValueError, "not a masked payload of view");
        return NULL;
    }
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(args[0]);
    return payload_bytes(s + start, stop - start, s + start - 4);
}

static PyMethodDef mask_methods[] = {
    {"plain", (PyCFunction)(void (*)(void))mask_plain, METH_FASTCALL,
     "plain(view, pos, events, max_size, masked, /)\n--\n\n"
     "Decode the whole unfragmented text and binary frames from pos on into events; the "
     "position of the first frame that is not one."},
    {"unmask", (PyCFunction)(void (*)(void))mask_unmask, METH_FASTCALL,
     "unmask(view, start, stop, /)\n--\n\n"
     "The payload view[start:stop] unmasked with the four bytes before it."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef mask_module = {
    PyModuleDef_HEAD_INIT,
    "workerman.core.websocket._mask",
    "The compiled build's decoding of plain WebSocket frames (see _frames._plain).",
    -1,
    mask_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__mask(void)
{
    if (op_text == NULL) {
        op_text = PyLong_FromLong(1);
        op_binary = PyLong_FromLong(2);
        if (op_text == NULL || op_binary == NULL) {
            return NULL;
        }
    }
    return PyModule_Create(&mask_module);
}
