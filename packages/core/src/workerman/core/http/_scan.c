/* The compiled build's reading of a request head: workerman.core.http._head.valid in C,
 * with the two readings of a field that a handler asks for most (_head._values, the values
 * of one field, and _cookies._split, the cookies of a Cookie header), and the search for the
 * end of a head (find, bytes.find); each gives what the Python function gives, on every
 * input.
 *
 * valid(head) gives exactly what the Python valid() gives, and that is exactly what the
 * grammar _head.GRAMMAR matches (tests/core/http/test_head_tables.py checks all three on
 * generated heads): the method, target and version of the request line, the head
 * lower-cased, and the names of the fields that frame the request, in order; or None for a
 * head the grammar does not match. One pass over the bytes, where the Python passes make a
 * dozen calls and a regular expression search. The pure build never loads this module
 * (workerman/core/_extensions.py), and runs the Python valid().
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

/* tchar (RFC 9110 5.6.2) */
static unsigned char is_token[256];
/* field-value bytes: HTAB, visible ASCII, space, obs-text */
static unsigned char is_value[256];
/* the target: visible ASCII and obs-text */
static unsigned char is_target[256];

/* the fields that frame a request, as _head._FRAMING names them */
#define FRAMING 5
static const char *framing_names[FRAMING] = {
    "content-length", "transfer-encoding", "host", "connection", "expect",
};
static Py_ssize_t framing_sizes[FRAMING];
static PyObject *framing_bytes[FRAMING];

static int
lower_equal(const unsigned char *s, const char *lower, Py_ssize_t n)
{
    for (Py_ssize_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if (c >= 'A' && c <= 'Z') {
            c += 32;
        }
        if (c != (unsigned char)lower[i]) {
            return 0;
        }
    }
    return 1;
}

static PyObject *
scan_valid(PyObject *module, PyObject *arg)
{
    (void)module;
    if (!PyBytes_CheckExact(arg)) {
        PyErr_Format(PyExc_TypeError, "a head is bytes, not %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    const unsigned char *s = (const unsigned char *)PyBytes_AS_STRING(arg);
    Py_ssize_t n = PyBytes_GET_SIZE(arg);
    Py_ssize_t i = 0;

    /* the request line: token SP target SP "HTTP/" DIGIT "." DIGIT */
    while (i < n && is_token[s[i]]) {
        i++;
    }
    Py_ssize_t method_end = i;
    if (method_end == 0 || i >= n || s[i] != ' ') {
        Py_RETURN_NONE;
    }
    Py_ssize_t target_start = ++i;
    while (i < n && is_target[s[i]]) {
        i++;
    }
    Py_ssize_t target_end = i;
    if (target_end == target_start || i >= n || s[i] != ' ') {
        Py_RETURN_NONE;
    }
    i++;
    if (n - i < 8 || memcmp(s + i, "HTTP/", 5) != 0 || s[i + 5] < '0' || s[i + 5] > '9' ||
        s[i + 6] != '.' || s[i + 7] < '0' || s[i + 7] > '9') {
        Py_RETURN_NONE;
    }
    Py_ssize_t version = i + 5;
    i += 8;

    /* the field lines: CRLF token ":" field-value, each noted when it frames the request */
    PyObject *framing = PyList_New(0);
    if (framing == NULL) {
        return NULL;
    }
    while (i < n) {
        if (n - i < 4 || s[i] != '\r' || s[i + 1] != '\n') {
            goto invalid;
        }
        i += 2;
        Py_ssize_t name = i;
        while (i < n && is_token[s[i]]) {
            i++;
        }
        if (i == name || i >= n || s[i] != ':') {
            goto invalid;
        }
        Py_ssize_t size = i - name;
        for (int k = 0; k < FRAMING; k++) {
            if (size == framing_sizes[k] && lower_equal(s + name, framing_names[k], size)) {
                if (PyList_Append(framing, framing_bytes[k]) < 0) {
                    Py_DECREF(framing);
                    return NULL;
                }
                break;
            }
        }
        i++;
        while (i < n && is_value[s[i]]) {
            i++;
        }
    }

    PyObject *lower = PyBytes_FromStringAndSize(NULL, n);
    if (lower == NULL) {
        Py_DECREF(framing);
        return NULL;
    }
    unsigned char *out = (unsigned char *)PyBytes_AS_STRING(lower);
    for (Py_ssize_t j = 0; j < n; j++) {
        unsigned char c = s[j];
        out[j] = (c >= 'A' && c <= 'Z') ? (unsigned char)(c + 32) : c;
    }
    return Py_BuildValue(
        "(y#y#y#)NN",
        (const char *)s,
        method_end,
        (const char *)s + target_start,
        target_end - target_start,
        (const char *)s + version,
        (Py_ssize_t)3,
        lower,
        framing);

invalid:
    Py_DECREF(framing);
    Py_RETURN_NONE;
}

/* values(lower, needle, source): _head._values in C. Every value of the field that
 * ``needle`` (b"\r\nname:") begins in the lower-cased head ``lower``, stripped of spaces and
 * tabs, as it is in ``source`` (the head as sent, or ``lower`` itself). */
static PyObject *
scan_values(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[1]) ||
        !PyBytes_CheckExact(args[2]) || PyBytes_GET_SIZE(args[0]) != PyBytes_GET_SIZE(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "values(lower, needle, source) takes three bytes, lower and source "
                        "of one length");
        return NULL;
    }
    const char *lower = PyBytes_AS_STRING(args[0]);
    const char *needle = PyBytes_AS_STRING(args[1]);
    const char *source = PyBytes_AS_STRING(args[2]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t m = PyBytes_GET_SIZE(args[1]);
    PyObject *found = PyList_New(0);
    if (found == NULL || m == 0) {
        return found;
    }
    Py_ssize_t i = 0;
    while (i + m <= n) {
        const char *at = memchr(lower + i, needle[0], (size_t)(n - m - i + 1));
        if (at == NULL) {
            break;
        }
        i = at - lower;
        if (memcmp(at, needle, (size_t)m) != 0) {
            i++;
            continue;
        }
        Py_ssize_t start = i + m;
        Py_ssize_t end = start;
        while (end < n && !(lower[end] == '\r' && end + 1 < n && lower[end + 1] == '\n')) {
            end++;
        }
        i = end;
        Py_ssize_t stop = end;
        while (start < stop && (source[start] == ' ' || source[start] == '\t')) {
            start++;
        }
        while (stop > start && (source[stop - 1] == ' ' || source[stop - 1] == '\t')) {
            stop--;
        }
        PyObject *value = PyBytes_FromStringAndSize(source + start, stop - start);
        if (value == NULL || PyList_Append(found, value) < 0) {
            Py_XDECREF(value);
            Py_DECREF(found);
            return NULL;
        }
        Py_DECREF(value);
    }
    return found;
}

/* cookies(header): _cookies._split in C. The cookies of a Cookie header split at its
 * semicolons, the first of a repeated name kept; None where a name is empty or has a comma
 * or white space in it (the regular expression reads those its own way). White space is
 * what str.strip() takes away. */
static PyObject *
scan_cookies(PyObject *module, PyObject *arg)
{
    (void)module;
    if (!PyUnicode_CheckExact(arg)) {
        PyErr_Format(PyExc_TypeError, "a header is str, not %.100s", Py_TYPE(arg)->tp_name);
        return NULL;
    }
    int kind = PyUnicode_KIND(arg);
    const void *data = PyUnicode_DATA(arg);
    Py_ssize_t n = PyUnicode_GET_LENGTH(arg);
    PyObject *cookies = PyDict_New();
    if (cookies == NULL) {
        return NULL;
    }
    Py_ssize_t start = 0;
    while (start <= n) {
        Py_ssize_t end = start;
        while (end < n && PyUnicode_READ(kind, data, end) != ';') {
            end++;
        }
        Py_ssize_t equals = start;
        while (equals < end && PyUnicode_READ(kind, data, equals) != '=') {
            equals++;
        }
        if (equals < end) {
            Py_ssize_t a = start, b = equals;
            while (a < b && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, a))) {
                a++;
            }
            while (b > a && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, b - 1))) {
                b--;
            }
            if (a == b) {
                goto undecided;
            }
            for (Py_ssize_t j = a; j < b; j++) {
                Py_UCS4 c = PyUnicode_READ(kind, data, j);
                if (c == ',' || Py_UNICODE_ISSPACE(c)) {
                    goto undecided;
                }
            }
            Py_ssize_t c = equals + 1, d = end;
            while (c < d && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, c))) {
                c++;
            }
            while (d > c && Py_UNICODE_ISSPACE(PyUnicode_READ(kind, data, d - 1))) {
                d--;
            }
            PyObject *name = PyUnicode_Substring(arg, a, b);
            if (name == NULL) {
                Py_DECREF(cookies);
                return NULL;
            }
            int known = PyDict_Contains(cookies, name);
            if (known == 0) {
                PyObject *value = PyUnicode_Substring(arg, c, d);
                if (value == NULL || PyDict_SetItem(cookies, name, value) < 0) {
                    known = -1;
                }
                Py_XDECREF(value);
            }
            Py_DECREF(name);
            if (known < 0) {
                Py_DECREF(cookies);
                return NULL;
            }
        }
        start = end + 1;
    }
    return cookies;

undecided:
    Py_DECREF(cookies);
    Py_RETURN_NONE;
}

/* find(haystack, needle, start): bytes.find(haystack, needle, start) in C, for two bytes.
 * The end of a request head is looked for once per request, and bytes.find parses its
 * arguments as a tuple (some 700 instructions a call, where the search itself takes 250). */
static PyObject *
scan_find(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    (void)module;
    if (nargs != 3 || !PyBytes_CheckExact(args[0]) || !PyBytes_CheckExact(args[1]) ||
        !PyLong_CheckExact(args[2])) {
        PyErr_SetString(PyExc_TypeError,
                        "find(haystack, needle, start) takes two bytes and an int");
        return NULL;
    }
    const char *hay = PyBytes_AS_STRING(args[0]);
    const char *needle = PyBytes_AS_STRING(args[1]);
    Py_ssize_t n = PyBytes_GET_SIZE(args[0]);
    Py_ssize_t m = PyBytes_GET_SIZE(args[1]);
    Py_ssize_t i = PyLong_AsSsize_t(args[2]);
    if (i == -1 && PyErr_Occurred()) {
        /* a start beyond Py_ssize_t: bytes.find clamps it, as here */
        PyErr_Clear();
        i = _PyLong_Sign(args[2]) < 0 ? 0 : n + 1;
    }
    if (i < 0) {
        i += n;
        if (i < 0) {
            i = 0;
        }
    }
    if (m == 0) {
        return PyLong_FromSsize_t(i <= n ? i : -1);
    }
    while (i + m <= n) {
        const char *at = memchr(hay + i, needle[0], (size_t)(n - m - i + 1));
        if (at == NULL) {
            break;
        }
        i = at - hay;
        if (memcmp(at, needle, (size_t)m) == 0) {
            return PyLong_FromSsize_t(i);
        }
        i++;
    }
    return PyLong_FromSsize_t(-1);
}

static PyMethodDef scan_methods[] = {
    {"valid", scan_valid, METH_O,
     "valid(head, /)\n--\n\n"
     "The method, target and version of a head's request line, the head lower-cased and "
     "the names of the fields that frame it; None when the head breaks the grammar."},
    {"values", (PyCFunction)(void (*)(void))scan_values, METH_FASTCALL,
     "values(lower, needle, source, /)\n--\n\n"
     "Every value of the field needle (b'\\r\\nname:') begins in the lower-cased head, "
     "as in source."},
    {"find", (PyCFunction)(void (*)(void))scan_find, METH_FASTCALL,
     "find(haystack, needle, start, /)\n--\n\n"
     "bytes.find(haystack, needle, start), for bytes and an int."},
    {"cookies", scan_cookies, METH_O,
     "cookies(header, /)\n--\n\n"
     "The cookies of a header split at its semicolons; None where a name is not plain."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef scan_module = {
    PyModuleDef_HEAD_INIT,
    "workerman.core.http._scan",
    "The compiled build's one-pass reading of a request head (see _head.valid).",
    -1,
    scan_methods,
    NULL,
    NULL,
    NULL,
    NULL,
};

PyMODINIT_FUNC
PyInit__scan(void)
{
    const char *tchar = "!#$%&'*+-.^_`|~";
    for (int c = 0; c < 256; c++) {
        is_token[c] = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
                      (c >= 'A' && c <= 'Z') || (c != 0 && strchr(tchar, c) != NULL);
        is_target[c] = (c > 0x20 && c < 0x7f) || c >= 0x80;
        is_value[c] = is_target[c] || c == ' ' || c == '\t';
    }
    for (int k = 0; k < FRAMING; k++) {
        framing_sizes[k] = (Py_ssize_t)strlen(framing_names[k]);
        if (framing_bytes[k] == NULL) {
            framing_bytes[k] = PyBytes_FromString(framing_names[k]);
            if (framing_bytes[k] == NULL) {
                return NULL;
            }
        }
    }
    return PyModule_Create(&scan_module);
}
