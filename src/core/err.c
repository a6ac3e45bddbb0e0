/*
 * err.c — the error table: for every HERR_* code a stable machine name, an HTTP
 * status and one sentence per language (ru, en, de, pl).
 *
 * The table is a plain static array in the order of the enum in err.h, looked
 * up by a linear scan: it has a few dozen rows and errors are the slow path.
 * Sentences are templates with at most one "%s"; herr_format substitutes it by
 * hand so that neither a template nor a user-supplied detail is ever handed to
 * printf as a format string.
 */
#include "core/err.h"

#include <string.h>

typedef struct herr_row {
	int code;
	const char *name;
	int status;
	const char *text[HERR_LANG_COUNT]; /* ru, en, de, pl */
} herr_row;

static const herr_row herr_table[] = {
        {HERR_OK, "ok", 200, {"Готово", "OK", "OK", "OK"}},
        /* internal / infrastructure */
        {HERR_NOMEM,
         "nomem",
         500,
         {"На сервере закончилась память", "The server is out of memory", "Dem Server ist der Speicher ausgegangen",
          "Serwerowi zabrakło pamięci"}},
        {HERR_INTERNAL,
         "internal",
         500,
         {"Внутренняя ошибка сервера", "Internal server error", "Interner Serverfehler", "Wewnętrzny błąd serwera"}},
        {HERR_STORAGE,
         "storage",
         503,
         {"Хранилище данных временно недоступно", "Data storage is temporarily unavailable",
          "Der Datenspeicher ist vorübergehend nicht verfügbar", "Magazyn danych jest chwilowo niedostępny"}},
        {HERR_IO,
         "io",
         500,
         {"Ошибка ввода-вывода на сервере", "Input/output error on the server", "Ein-/Ausgabefehler auf dem Server",
          "Błąd wejścia/wyjścia na serwerze"}},
        {HERR_SCHEMA_TOO_NEW,
         "schema_too_new",
         500,
         {"База данных создана более новой версией сервера", "The database was created by a newer server version",
          "Die Datenbank wurde von einer neueren Serverversion angelegt",
          "Baza danych została utworzona przez nowszą wersję serwera"}},
        {HERR_SHUTTING_DOWN,
         "shutting_down",
         503,
         {"Сервер останавливается, повторите запрос позже", "The server is shutting down, please try again later",
          "Der Server wird heruntergefahren, bitte später erneut versuchen",
          "Serwer jest wyłączany, spróbuj ponownie później"}},
        /* protocol */
        {HERR_BAD_REQUEST,
         "bad_request",
         400,
         {"Некорректный запрос", "Bad request", "Ungültige Anfrage", "Nieprawidłowe żądanie"}},
        {HERR_BAD_JSON,
         "bad_json",
         400,
         {"Тело запроса не является корректным JSON", "The request body is not valid JSON",
          "Der Anfrageinhalt ist kein gültiges JSON", "Treść żądania nie jest poprawnym JSON-em"}},
        {HERR_BODY_TOO_LARGE,
         "body_too_large",
         413,
         {"Тело запроса слишком большое", "The request body is too large", "Der Anfrageinhalt ist zu groß",
          "Treść żądania jest zbyt duża"}},
        {HERR_HEADERS_TOO_LARGE,
         "headers_too_large",
         431,
         {"Заголовки запроса слишком большие", "The request headers are too large", "Die Anfrage-Header sind zu groß",
          "Nagłówki żądania są zbyt duże"}},
        {HERR_ROUTE_NOT_FOUND,
         "route_not_found",
         404,
         {"Такого метода API нет", "No such API endpoint", "Diesen API-Endpunkt gibt es nicht",
          "Nie ma takiego punktu końcowego API"}},
        {HERR_METHOD_NOT_ALLOWED,
         "method_not_allowed",
         405,
         {"Этот HTTP-метод здесь не поддерживается", "This HTTP method is not allowed here",
          "Diese HTTP-Methode ist hier nicht erlaubt", "Ta metoda HTTP nie jest tu dozwolona"}},
        {HERR_TIMEOUT,
         "timeout",
         408,
         {"Истекло время ожидания запроса", "The request timed out", "Zeitüberschreitung bei der Anfrage",
          "Upłynął limit czasu żądania"}},
        /* validation */
        {HERR_FIELD_MISSING,
         "field_missing",
         422,
         {"Не заполнено обязательное поле %s", "Required field %s is missing", "Das Pflichtfeld %s fehlt",
          "Brak wymaganego pola %s"}},
        {HERR_FIELD_TYPE,
         "field_type",
         400,
         {"Поле %s имеет неверный тип", "Field %s has the wrong type", "Das Feld %s hat den falschen Typ",
          "Pole %s ma nieprawidłowy typ"}},
        {HERR_FIELD_INVALID,
         "field_invalid",
         422,
         {"Недопустимое значение поля %s", "Field %s has an invalid value", "Das Feld %s hat einen ungültigen Wert",
          "Pole %s ma nieprawidłową wartość"}},
        {HERR_INN_INVALID,
         "inn_invalid",
         422,
         {"ИНН должен состоять из 10 или 12 цифр", "The INN must consist of 10 or 12 digits",
          "Die INN muss aus 10 oder 12 Ziffern bestehen", "Numer INN musi składać się z 10 lub 12 cyfr"}},
        {HERR_PHONE_INVALID,
         "phone_invalid",
         422,
         {"Неверный номер телефона", "Invalid phone number", "Ungültige Telefonnummer",
          "Nieprawidłowy numer telefonu"}},
        {HERR_DEVICE_INVALID,
         "device_invalid",
         422,
         {"Тип устройства должен быть android или apple", "device must be android or apple",
          "Der Gerätetyp muss android oder apple sein", "Typ urządzenia musi być android lub apple"}},
        {HERR_DATE_INVALID,
         "date_invalid",
         422,
         {"Некорректная дата в поле %s", "Field %s does not contain a valid date",
          "Das Feld %s enthält kein gültiges Datum", "Pole %s nie zawiera prawidłowej daty"}},
        {HERR_COUNT_INVALID,
         "count_invalid",
         422,
         {"Недопустимое количество записей", "Invalid number of items", "Ungültige Anzahl von Einträgen",
          "Nieprawidłowa liczba elementów"}},
        {HERR_TITLE_EMPTY,
         "title_empty",
         422,
         {"Заголовок сообщения не может быть пустым", "The message title must not be empty",
          "Der Titel der Nachricht darf nicht leer sein", "Tytuł wiadomości nie może być pusty"}},
        {HERR_TEXT_EMPTY,
         "text_empty",
         422,
         {"Текст сообщения не может быть пустым", "The message text must not be empty",
          "Der Text der Nachricht darf nicht leer sein", "Treść wiadomości nie może być pusta"}},
        {HERR_TITLE_TOO_LONG,
         "title_too_long",
         422,
         {"Заголовок сообщения длиннее %s символов", "The message title is longer than %s characters",
          "Der Titel der Nachricht ist länger als %s Zeichen", "Tytuł wiadomości jest dłuższy niż %s znaków"}},
        {HERR_TEXT_TOO_LONG,
         "text_too_long",
         422,
         {"Текст сообщения длиннее %s символов", "The message text is longer than %s characters",
          "Der Text der Nachricht ist länger als %s Zeichen", "Treść wiadomości jest dłuższa niż %s znaków"}},
        {HERR_NAME_INVALID,
         "name_invalid",
         422,
         {"Недопустимое имя", "Invalid name", "Ungültiger Name", "Nieprawidłowa nazwa"}},
        {HERR_PUSHTOKEN_INVALID,
         "pushtoken_invalid",
         422,
         {"Некорректный push-токен", "Invalid push token", "Ungültiges Push-Token", "Nieprawidłowy token push"}},
        {HERR_CODE_FORMAT,
         "code_format",
         422,
         {"Код из СМС должен состоять только из цифр", "The SMS code must consist of digits only",
          "Der SMS-Code darf nur aus Ziffern bestehen", "Kod SMS może składać się tylko z cyfr"}},
        /* auth */
        {HERR_UNAUTHORIZED,
         "unauthorized",
         401,
         {"Требуется авторизация", "Authentication required", "Anmeldung erforderlich", "Wymagane uwierzytelnienie"}},
        {HERR_FORBIDDEN,
         "forbidden",
         403,
         {"Доступ запрещён", "Access denied", "Zugriff verweigert", "Odmowa dostępu"}},
        {HERR_INN_MISMATCH,
         "inn_mismatch",
         403,
         {"ИНН в запросе не совпадает с ИНН вашей организации",
          "The INN in the request does not match your organisation's INN",
          "Die INN in der Anfrage stimmt nicht mit der INN Ihrer Organisation überein",
          "Numer INN w żądaniu nie zgadza się z numerem INN Twojej organizacji"}},
        {HERR_STAFF_MISMATCH,
         "staff_mismatch",
         403,
         {"Запрос относится к другому сотруднику", "The request refers to another employee",
          "Die Anfrage betrifft einen anderen Mitarbeiter", "Żądanie dotyczy innego pracownika"}},
        {HERR_BAD_CREDENTIALS,
         "bad_credentials",
         401,
         {"Неверный ИНН или пароль", "Wrong INN or password", "INN oder Passwort ist falsch",
          "Nieprawidłowy numer INN lub hasło"}},
        /* business */
        {HERR_UNKNOWN_INN,
         "unknown_inn",
         404,
         {"Организация с ИНН %s не существует", "There is no organisation with INN %s",
          "Es gibt keine Organisation mit der INN %s", "Organizacja o numerze INN %s nie istnieje"}},
        {HERR_UNKNOWN_STAFF,
         "unknown_staff",
         404,
         {"Сотрудник не найден", "Employee not found", "Mitarbeiter nicht gefunden", "Nie znaleziono pracownika"}},
        {HERR_STAFF_DISABLED,
         "staff_disabled",
         409,
         {"Сотрудник отключён от рассылок", "The employee is switched off from mailings",
          "Der Mitarbeiter ist vom Nachrichtenversand ausgeschlossen", "Pracownik jest wyłączony z wysyłek"}},
        {HERR_TENANT_EXISTS,
         "tenant_exists",
         409,
         {"Организация с таким ИНН уже существует", "An organisation with this INN already exists",
          "Eine Organisation mit dieser INN existiert bereits", "Organizacja o tym numerze INN już istnieje"}},
        {HERR_CODE_INVALID,
         "code_invalid",
         401,
         {"Код из СМС неверен", "The SMS code is wrong", "Der SMS-Code ist falsch", "Kod z SMS-a jest nieprawidłowy"}},
        {HERR_CODE_EXPIRED,
         "code_expired",
         401,
         {"Срок действия кода истёк или код не запрашивался", "The code has expired or was not requested",
          "Der Code ist abgelaufen oder wurde nicht angefordert", "Kod wygasł lub nie został wysłany"}},
        {HERR_CODE_ATTEMPTS,
         "code_attempts",
         429,
         {"Слишком много неверных попыток, запросите новый код", "Too many wrong attempts, please request a new code",
          "Zu viele Fehlversuche, bitte fordern Sie einen neuen Code an",
          "Zbyt wiele błędnych prób, poproś o nowy kod"}},
        {HERR_RATE_LIMITED,
         "rate_limited",
         429,
         {"Слишком много запросов, повторите позже", "Too many requests, please try again later",
          "Zu viele Anfragen, bitte versuchen Sie es später erneut", "Zbyt wiele żądań, spróbuj ponownie później"}},
        {HERR_SMS_FAILED,
         "sms_failed",
         502,
         {"Не удалось отправить СМС", "The SMS could not be sent", "Die SMS konnte nicht gesendet werden",
          "Nie udało się wysłać SMS-a"}},
        {HERR_NOT_FOUND, "not_found", 404, {"Не найдено", "Not found", "Nicht gefunden", "Nie znaleziono"}},
        {HERR_CONFLICT,
         "conflict",
         409,
         {"Конфликт с текущим состоянием данных", "Conflict with the current state of the data",
          "Konflikt mit dem aktuellen Datenstand", "Konflikt z bieżącym stanem danych"}},
        /* company cabinet */
        {HERR_NO_RECIPIENTS,
         "no_recipients",
         422,
         {"Не выбран ни один получатель, включённый в рассылки", "No recipient chosen (or nobody is in the mailings)",
          "Kein Empfänger gewählt (oder niemand ist im Nachrichtenversand)",
          "Nie wybrano odbiorcy (lub nikt nie jest objęty wysyłką)"}},
        {HERR_UNKNOWN_EMPLOYEE,
         "unknown_employee",
         422,
         {"Сотрудник %s не найден", "Employee %s does not exist", "Mitarbeiter %s existiert nicht",
          "Pracownik %s nie istnieje"}},
        {HERR_EMPLOYEE_NO_MAILING,
         "employee_no_mailing",
         422,
         {"Сотрудник %s отключён от рассылок", "Employee %s is switched off from mailings",
          "Mitarbeiter %s ist vom Nachrichtenversand ausgeschlossen", "Pracownik %s jest wyłączony z wysyłek"}},
        {HERR_RANGE_INVALID,
         "range_invalid",
         422,
         {"Недопустимый период: %s", "Invalid period: %s", "Ungültiger Zeitraum: %s", "Nieprawidłowy okres: %s"}},
        {HERR_EXPORT_TOO_LARGE,
         "export_too_large",
         422,
         {"В выгрузке больше %s строк, сузьте отбор", "The export has more than %s rows; narrow the filter",
          "Der Export hat mehr als %s Zeilen; bitte den Filter einschränken",
          "Eksport ma więcej niż %s wierszy; zawęź filtr"}},
};

#define HERR_ROWS (sizeof(herr_table) / sizeof(herr_table[0]))

/* Row for a code; unknown codes fall back to "internal". */
static const herr_row *herr_row_of(int rc)
{
	const herr_row *internal = NULL;
	for (size_t i = 0; i < HERR_ROWS; i++) {
		if (herr_table[i].code == rc)
			return &herr_table[i];
		if (herr_table[i].code == HERR_INTERNAL)
			internal = &herr_table[i];
	}
	return internal;
}

const char *herr_name(int rc)
{
	return herr_row_of(rc)->name;
}

int herr_http_status(int rc)
{
	return herr_row_of(rc)->status;
}

const char *herr_text(int rc, herr_lang lang)
{
	if ((int)lang < 0 || lang >= HERR_LANG_COUNT)
		lang = HERR_LANG_RU;
	return herr_row_of(rc)->text[lang];
}

/*
 * Appends n bytes of s to out[*pos]. When they do not fit, writes what does,
 * backing off so no UTF-8 character is cut, and returns -1: the caller stops
 * there, so a later short piece cannot land after a gap.
 */
static int herr_put(char *out, size_t out_size, size_t *pos, const char *s, size_t n)
{
	size_t room = out_size - 1 - *pos;
	int rc = 0;
	if (n > room) {
		n = room;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
			n--;
		rc = -1;
	}
	memcpy(out + *pos, s, n);
	*pos += n;
	return rc;
}

void herr_format(int rc, herr_lang lang, const char *detail, char *out, size_t out_size)
{
	if (out == NULL || out_size == 0)
		return;
	const char *t = herr_text(rc, lang);
	const char *pct = strstr(t, "%s");
	size_t pos = 0;
	if (pct == NULL) {
		herr_put(out, out_size, &pos, t, strlen(t));
	} else if (herr_put(out, out_size, &pos, t, (size_t)(pct - t)) == 0 &&
	           herr_put(out, out_size, &pos, detail ? detail : "", detail ? strlen(detail) : 0) == 0) {
		herr_put(out, out_size, &pos, pct + 2, strlen(pct + 2));
	}
	out[pos] = '\0';
}

static const char *const herr_lang_codes[HERR_LANG_COUNT] = {"ru", "en", "de", "pl"};

const char *herr_lang_code(herr_lang lang)
{
	if ((int)lang < 0 || lang >= HERR_LANG_COUNT)
		return "ru";
	return herr_lang_codes[lang];
}

static int herr_lower(int c)
{
	return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int herr_is_space(char c)
{
	return c == ' ' || c == '\t';
}

/* Parses a q-value ("1", "0.8", "0.125") into thousandths; -1 if malformed. */
static int herr_parse_q(const char *s, const char *end)
{
	if (s >= end || (*s != '0' && *s != '1'))
		return -1;
	int q = (*s - '0') * 1000;
	s++;
	if (s < end && *s == '.') {
		s++;
		int scale = 100;
		for (int digits = 0; s < end && *s >= '0' && *s <= '9'; s++, digits++) {
			if (digits == 3)
				return -1;
			q += (*s - '0') * scale;
			scale /= 10;
		}
	}
	if (s != end || q > 1000)
		return -1;
	return q;
}

herr_lang herr_lang_from_accept(const char *accept_language)
{
	herr_lang best = HERR_LANG_RU;
	int best_q = 0;
	if (accept_language == NULL)
		return best;
	const char *p = accept_language;
	while (*p != '\0') {
		const char *item_end = strchr(p, ',');
		if (item_end == NULL)
			item_end = p + strlen(p);
		/* the language range: up to ';' or the end of the item */
		while (p < item_end && herr_is_space(*p))
			p++;
		const char *tag = p;
		while (p < item_end && *p != ';' && !herr_is_space(*p))
			p++;
		const char *tag_end = p;
		int q = 1000;
		/* parameters: only q matters */
		while (p < item_end) {
			if (*p == ';' || herr_is_space(*p)) {
				p++;
				continue;
			}
			const char *param = p;
			while (p < item_end && *p != ';')
				p++;
			const char *param_end = p;
			while (param_end > param && herr_is_space(param_end[-1]))
				param_end--;
			if (param_end - param >= 2 && herr_lower(param[0]) == 'q' && param[1] == '=')
				q = herr_parse_q(param + 2, param_end);
		}
		/* primary subtag, matched as a prefix: "en-US" counts as "en" */
		size_t primary = 0;
		while (tag + primary < tag_end && tag[primary] != '-')
			primary++;
		if (primary == 2 && q > best_q) {
			for (int l = 0; l < HERR_LANG_COUNT; l++) {
				if (herr_lower(tag[0]) == herr_lang_codes[l][0] &&
				    herr_lower(tag[1]) == herr_lang_codes[l][1]) {
					best = (herr_lang)l;
					best_q = q;
					break;
				}
			}
		}
		p = *item_end == ',' ? item_end + 1 : item_end;
	}
	return best;
}
