# The mails (email-templates/). Variables: $newsletter is the newsletter's name, $name the
# reader's, $list a list's name, $hours how long a link works.

## Shared
greeting = Hi { $name },
greeting-anonymous = Hi,
manage-subscription = Manage your subscription
manage-subscription-what = your name, your lists, your data
not-me-text = If this wasn't you, ignore this email and you won't be subscribed.
not-me-link-text = Or tell us it wasn't you:
not-me-html = If this wasn't you, ignore this email and you won't be subscribed, or
not-me-link = tell us it wasn't you
confirm-mail-button = Confirm my subscription
paste-link = Or paste this link into your browser (it expires in { $hours ->
    [one] one hour
   *[other] { $hours } hours
}):
link-expires = The link expires in { $hours ->
    [one] one hour.
   *[other] { $hours } hours.
}

## Confirmation
confirmation-subject = Confirm your subscription to { $newsletter }
confirmation-preheader = One click to confirm your subscription to { $newsletter }.
confirmation-heading = Confirm your subscription
confirmation-ask = Please confirm that you want to receive { $newsletter }.
confirmation-ask-text = Please confirm that you want to receive { $newsletter } by opening this link:
confirmation-button-note = Opening it shows a page with a button; nothing happens until you press it.

## Reminder
reminder-subject = Reminder: confirm your subscription to { $newsletter }
reminder-heading = One step left
reminder-text = You signed up for { $newsletter } but have not confirmed yet. If you still want it, confirm here; this is the only reminder we send.
reminder-text-plain = You signed up for { $newsletter } but have not confirmed yet. If you still want it, confirm by opening this link:
reminder-only-one = This is the only reminder we send: if you do nothing, you won't be subscribed and won't hear from us again.
reminder-not-me = If this wasn't you, tell us:

## Welcome
welcome-subject = Welcome to { $newsletter }
welcome-preheader = You are subscribed to { $newsletter }.
welcome-heading = Welcome!
welcome-thanks = Thank you for confirming: you are now subscribed to { $newsletter }. The next issue comes to this address.
welcome-archive = Meanwhile,
welcome-archive-link = read the past issues
welcome-archive-text = Meanwhile, read the past issues:
unsubscribe = Unsubscribe
with-one-click = with one click.
unsubscribe-one-click = Unsubscribe with one click:

## Digest
view-in-browser = View in browser
view-in-browser-text = View it in your browser:
digest-intro = Here is what's new: { $count ->
    [one] one article.
   *[other] { $count } articles.
}
digest-intro-text = Here is what's new in { $newsletter }: { $count ->
    [one] one article.
   *[other] { $count } articles.
}
digest-why = You receive { $newsletter } because you subscribed and confirmed your address.
digest-why-list = You receive { $list } from { $newsletter } because you subscribed and confirmed your address.
digest-unsubscribe = Unsubscribe
digest-unsubscribe-list = Unsubscribe from { $list }
digest-one-click = with one click
