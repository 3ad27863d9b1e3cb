# Die öffentlichen Seiten (src/http/pages/). $newsletter ist der Name des Newsletters.

## Der Rahmen jeder Seite
footer = { $newsletter } · wir geben Ihre Adresse niemals weiter · jede E-Mail enthält einen Abmeldelink
language-label = Sprache

## Anmeldung
signup-title = Anmelden
signup-heading = Hier für { $newsletter } anmelden
signup-intro = Erhalten Sie regelmäßig eine Zusammenfassung neuer Artikel per E-Mail. Jede E-Mail enthält einen Abmeldelink, und wir geben Ihre Adresse niemals weiter.
field-email = E-Mail-Adresse
field-your-email = Ihre E-Mail-Adresse
field-name = Name
field-optional = (optional)
field-lists = Listen
subscribe-button = Abonnieren
signup-note = Wir senden Ihnen eine E-Mail, um zu bestätigen, dass Sie es sind. Bis zu Ihrer Bestätigung erhalten Sie nichts.

## Posteingang prüfen
inbox-title = Bitte prüfen Sie Ihren Posteingang
inbox-sent = Falls diese Adresse E-Mails empfangen kann, haben wir ihr einen Link zur Bestätigung Ihres Abonnements gesendet. Der Link ist { $hours ->
    [one] eine Stunde
   *[other] { $hours } Stunden
} lang gültig.
inbox-nothing-yet = Es geschieht nichts, bis Sie den Link öffnen und auf der angezeigten Seite die Schaltfläche drücken.
inbox-no-mail = Nichts angekommen? Sehen Sie in Ihrem Spam-Ordner nach, oder
inbox-sign-up-again = melden Sie sich in einigen Minuten erneut an

## Bestätigung
confirm-title = Abonnement bestätigen
confirm-intro = Drücken Sie die Schaltfläche, um { $newsletter } an die Adresse zu erhalten, an die dieser Link gesendet wurde.
confirm-button = Ja, ich möchte abonnieren
confirm-note = Das Öffnen dieser Seite hat nichts verändert; das tut nur die Schaltfläche. Sie haben sich nicht angemeldet? Schließen Sie diese Seite einfach.
confirmed-title = Ihr Abonnement ist aktiv
confirmed-already = Ihr Abonnement war bereits bestätigt. Sie müssen nichts weiter tun.
confirmed-thanks = Vielen Dank für Ihre Bestätigung. Die nächste Ausgabe von { $newsletter } kommt in Ihren Posteingang.
confirmed-note = Jede E-Mail enthält unten einen Abmeldelink, falls Sie den Newsletter einmal abbestellen möchten.
link-expired-title = Dieser Link ist abgelaufen
link-expired-text = Bestätigungslinks sind nur eine Zeit lang gültig, und dieser ist zu alt. Sie können einen neuen anfordern:
link-broken-title = Dieser Link funktioniert nicht
link-broken-text = Er wurde bereits verwendet, ist abgelaufen oder wurde nicht vollständig kopiert. Sie können einen neuen anfordern:
new-link-button = Neuen Link senden

## Abmeldung
unsubscribe-title = Abmelden
unsubscribe-list-heading = Von { $list } abmelden?
unsubscribe-list-text = Drücken Sie die Schaltfläche, und wir senden Ihnen { $list } nicht mehr. Andere Listen von { $newsletter }, die Sie abonniert haben, erhalten Sie weiterhin.
unsubscribe-list-button = Von { $list } abmelden
unsubscribe-all-heading = Oder alles beenden
unsubscribe-all-text = Keine E-Mails mehr von { $newsletter }, gleich welche Liste.
unsubscribe-all-button = Von allem abmelden
unsubscribe-heading = Von { $newsletter } abmelden?
unsubscribe-text = Drücken Sie die Schaltfläche, und wir senden Ihnen keine E-Mails mehr.
unsubscribe-button = Abmelden
unsubscribe-note = Das Öffnen dieser Seite hat noch nichts verändert.
unsubscribe-invalid-title = Dieser Abmeldelink funktioniert nicht
unsubscribe-invalid-text = Er wurde nicht vollständig kopiert oder ist älter als ein Jahr. Bitte verwenden Sie den Abmeldelink in der neuesten E-Mail, die Sie von uns erhalten haben.
unsubscribe-invalid-note = Wenn Sie weiterhin unerwünschte E-Mails erhalten, antworten Sie darauf, und wir tragen Sie von Hand aus.
unsubscribed-title = Sie sind abgemeldet
unsubscribed-list = Sie erhalten { $list } nicht mehr. Andere Listen von { $newsletter }, die Sie abonniert haben, erhalten Sie weiterhin; jede E-Mail enthält einen Link, um sie zu verwalten.
unsubscribed-all = Sie erhalten keine E-Mails mehr von { $newsletter }.
changed-mind = Haben Sie es sich anders überlegt?
sign-up-again-any-time = Sie können sich jederzeit erneut anmelden.

## Einstellungen
preferences-title = Ihr Abonnement
preferences-for = Für { $email }. Das Öffnen dieser Seite hat nichts verändert; drücken Sie „Speichern“, um Ihre Änderungen zu übernehmen.
preferences-saved = Ihre Einstellungen sind gespeichert.
preferences-inactive = Sie haben sich von allem abgemeldet, daher senden wir Ihnen nichts, gleich welche Listen.
preferences-your-lists = Ihre Listen
preferences-pending = Ihre Adresse ist noch nicht bestätigt: Die gewählten Listen beginnen, sobald Sie den Link in der Bestätigungs-E-Mail öffnen.
preferences-language-hint = für die Seiten und E-Mails, die wir Ihnen senden
save-button = Speichern
preferences-unsubscribe-heading = Von allem abmelden
preferences-unsubscribe-text = Keine E-Mails mehr von { $newsletter }, gleich welche Liste.
preferences-data-heading = Ihre Daten
preferences-download = Meine Daten herunterladen
preferences-download-text = (JSON): Ihre Adresse, Ihr Name, Ihre Listen, Ihre Einwilligungen und die E-Mails, die wir Ihnen gesendet haben.
preferences-erase = Mich löschen
preferences-erase-text = : alles löschen, was wir über Sie gespeichert haben. Wir fragen noch einmal nach, bevor etwas geschieht.
erase-title = Ihre Daten löschen?
erase-heading = Alles über Sie löschen?
erase-text = Wir löschen { $email }, Ihren Namen, Ihre Listen, Ihre Einwilligungen und den Nachweis jeder E-Mail, die wir Ihnen gesendet haben. Dies kann nicht rückgängig gemacht werden, und die Links in unseren E-Mails an Sie funktionieren danach nicht mehr.
erase-button = Ja, mich löschen
erase-back = Zurück zu Ihrem Abonnement
erase-note = Das Öffnen dieser Seite hat nichts verändert.
erased-title = Ihre Daten sind gelöscht
erased-text = Wir speichern nichts mehr über Sie, und Sie erhalten keine E-Mails mehr von { $newsletter }.
erased-note = Falls Sie sich abgemeldet hatten oder Ihre E-Mails unzustellbar waren, behalten wir nur einen nicht umkehrbaren Fingerabdruck der Adresse, damit niemand sie ohne Ihre erneute Anmeldung wieder hinzufügen kann.
preferences-invalid-text = Er ist vielleicht unvollständig (kopieren Sie den ganzen Link aus der E-Mail), zu alt, oder Ihre Daten wurden gelöscht.
preferences-invalid-note = Jede E-Mail von { $newsletter } enthält einen neuen Link „Abonnement verwalten“. Es wurde nichts verändert.

## Fehlerseiten
error-back = Zurück zur Anmeldeseite
error-unavailable = Vorübergehend nicht verfügbar
error-too-many = Zu viele Anfragen
error-not-found = Seite nicht gefunden
error-internal = Etwas ist schiefgegangen
error-failed = Das hat nicht funktioniert
error-internal-text = Bei uns ist etwas schiefgegangen. Bitte versuchen Sie es später noch einmal.
error-unavailable-text = Der Dienst ist gerade nicht erreichbar. Bitte versuchen Sie es gleich noch einmal.
error-too-many-text = Zu viele Anfragen. Bitte warten Sie eine Minute und versuchen Sie es dann erneut.
invalid-email = Bitte geben Sie eine gültige E-Mail-Adresse ein.
invalid-name = Bitte kürzen Sie den Namen auf eine Zeile mit höchstens 100 Zeichen.
invalid-lists = Bitte wählen Sie mindestens eine der angezeigten Listen.
invalid-other = Bitte prüfen Sie Ihre Eingaben.

## Archiv
archive-title = Archiv
archive-heading = Frühere Ausgaben von { $newsletter }
archive-every-list = Ausgaben aller Listen
archive-empty = Es wurde noch keine Ausgabe versandt.
archive-count = { $count ->
    [one] Eine Ausgabe auf dieser Seite.
   *[other] { $count } Ausgaben auf dieser Seite.
}
archive-pages = Seiten des Archivs
archive-newer = Neuere Ausgaben
archive-older = Ältere Ausgaben
archive-feed = Atom-Feed
archive-subscribe-to = { $newsletter } abonnieren
archive-all-issues = Alle Ausgaben
archive-next-by-mail = Die nächste Ausgabe per E-Mail erhalten
archive-read-on = Im Archiv weiterlesen
archive-too-long = : Diese Ausgabe ist zu lang für den Feed.
date = { $day }. { $month } { $year }
month-1 = Januar
month-2 = Februar
month-3 = März
month-4 = April
month-5 = Mai
month-6 = Juni
month-7 = Juli
month-8 = August
month-9 = September
month-10 = Oktober
month-11 = November
month-12 = Dezember
