# Die E-Mails (email-templates/). $newsletter ist der Name des Newsletters, $name der des
# Lesers, $list der Name einer Liste, $hours die Gültigkeit eines Links.

## Gemeinsam
greeting = Guten Tag { $name },
greeting-anonymous = Guten Tag,
manage-subscription = Abonnement verwalten
manage-subscription-what = Ihr Name, Ihre Listen, Ihre Daten
not-me-text = Falls Sie das nicht waren, ignorieren Sie diese E-Mail einfach; Sie werden dann nicht angemeldet.
not-me-link-text = Oder teilen Sie uns mit, dass Sie es nicht waren:
not-me-html = Falls Sie das nicht waren, ignorieren Sie diese E-Mail einfach; Sie werden dann nicht angemeldet. Oder
not-me-link = teilen Sie uns mit, dass Sie es nicht waren
confirm-mail-button = Abonnement bestätigen
paste-link = Oder fügen Sie diesen Link in Ihren Browser ein (er ist { $hours ->
    [one] eine Stunde
   *[other] { $hours } Stunden
} lang gültig):
link-expires = Der Link ist { $hours ->
    [one] eine Stunde
   *[other] { $hours } Stunden
} lang gültig.

## Bestätigung
confirmation-subject = Bestätigen Sie Ihr Abonnement von { $newsletter }
confirmation-preheader = Ein Klick, um Ihr Abonnement von { $newsletter } zu bestätigen.
confirmation-heading = Bestätigen Sie Ihr Abonnement
confirmation-ask = Bitte bestätigen Sie, dass Sie { $newsletter } erhalten möchten.
confirmation-ask-text = Bitte bestätigen Sie, dass Sie { $newsletter } erhalten möchten, indem Sie diesen Link öffnen:
confirmation-button-note = Er öffnet eine Seite mit einer Schaltfläche; es geschieht nichts, bis Sie sie drücken.

## Erinnerung
reminder-subject = Erinnerung: Bestätigen Sie Ihr Abonnement von { $newsletter }
reminder-heading = Nur noch ein Schritt
reminder-text = Sie haben sich für { $newsletter } angemeldet, aber noch nicht bestätigt. Wenn Sie den Newsletter weiterhin möchten, bestätigen Sie hier; dies ist die einzige Erinnerung, die wir senden.
reminder-text-plain = Sie haben sich für { $newsletter } angemeldet, aber noch nicht bestätigt. Wenn Sie den Newsletter weiterhin möchten, öffnen Sie zur Bestätigung diesen Link:
reminder-only-one = Dies ist die einzige Erinnerung, die wir senden: Wenn Sie nichts tun, werden Sie nicht angemeldet und hören nichts mehr von uns.
reminder-not-me = Falls Sie das nicht waren, teilen Sie es uns mit:

## Willkommen
welcome-subject = Willkommen bei { $newsletter }
welcome-preheader = Sie haben { $newsletter } abonniert.
welcome-heading = Willkommen!
welcome-thanks = Vielen Dank für Ihre Bestätigung: Sie haben { $newsletter } jetzt abonniert. Die nächste Ausgabe kommt an diese Adresse.
welcome-archive = Bis dahin können Sie
welcome-archive-link = die früheren Ausgaben lesen
welcome-archive-text = Bis dahin können Sie die früheren Ausgaben lesen:
unsubscribe = Abmelden
with-one-click = mit einem Klick.
unsubscribe-one-click = Mit einem Klick abmelden:

## Zusammenfassung
view-in-browser = Im Browser ansehen
view-in-browser-text = Im Browser ansehen:
digest-intro = Das ist neu: { $count ->
    [one] ein Artikel.
   *[other] { $count } Artikel.
}
digest-intro-text = Das ist neu bei { $newsletter }: { $count ->
    [one] ein Artikel.
   *[other] { $count } Artikel.
}
digest-why = Sie erhalten { $newsletter }, weil Sie sich angemeldet und Ihre Adresse bestätigt haben.
digest-why-list = Sie erhalten { $list } von { $newsletter }, weil Sie sich angemeldet und Ihre Adresse bestätigt haben.
digest-unsubscribe = Abmelden
digest-unsubscribe-list = Von { $list } abmelden
digest-one-click = mit einem Klick
