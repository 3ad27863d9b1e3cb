# The public pages (src/http/pages/). Variables: $newsletter is the newsletter's name.

## The frame of every page
footer = { $newsletter } · we never share your address · every email has an unsubscribe link
language-label = Language

## Signup
signup-title = Sign up
signup-heading = Sign up here for { $newsletter }
signup-intro = Get a periodic digest of new articles by email. Every email has a link to unsubscribe, and we never share your address.
field-email = Email address
field-your-email = Your email address
field-name = Name
field-optional = (optional)
field-lists = Lists
subscribe-button = Subscribe
signup-note = We'll send you an email to confirm it's you. Nothing is sent to you until you confirm.

## Check your inbox
inbox-title = Check your inbox
inbox-sent = If that address can receive mail, we've sent it a link to confirm your subscription. The link works for { $hours ->
    [one] one hour.
   *[other] { $hours } hours.
}
inbox-nothing-yet = Nothing happens until you open the link and press the button on the page it shows.
inbox-no-mail = Nothing arrived? Look in your spam folder, or
inbox-sign-up-again = sign up again in a few minutes

## Confirming
confirm-title = Confirm your subscription
confirm-intro = Press the button to start receiving { $newsletter } at the address this link was sent to.
confirm-button = Yes, subscribe me
confirm-note = Opening this page changed nothing; only the button does. Didn't sign up? Just close this page.
confirmed-title = You're subscribed
confirmed-already = Your subscription was already confirmed. There's nothing more to do.
confirmed-thanks = Thank you for confirming. The next { $newsletter } digest will come to your inbox.
confirmed-note = Every email has an unsubscribe link at the bottom, if you ever want to leave.
link-expired-title = This link has expired
link-expired-text = Confirmation links only work for a while, and this one is too old. You can ask for a new one:
link-broken-title = This link doesn't work
link-broken-text = It was already used, it has expired, or it wasn't copied whole. You can ask for a new one:
new-link-button = Send me a new link

## Unsubscribing
unsubscribe-title = Unsubscribe
unsubscribe-list-heading = Unsubscribe from { $list }?
unsubscribe-list-text = Press the button and we'll stop sending you { $list }. Any other lists of { $newsletter } you are on keep coming.
unsubscribe-list-button = Unsubscribe from { $list }
unsubscribe-all-heading = Or stop everything
unsubscribe-all-text = No more email from { $newsletter } at all, whatever the list.
unsubscribe-all-button = Unsubscribe from everything
unsubscribe-heading = Unsubscribe from { $newsletter }?
unsubscribe-text = Press the button and we'll stop sending you email.
unsubscribe-button = Unsubscribe
unsubscribe-note = Opening this page changed nothing yet.
unsubscribe-invalid-title = This unsubscribe link doesn't work
unsubscribe-invalid-text = It wasn't copied whole, or it is more than a year old. Please use the unsubscribe link in the newest email you got from us.
unsubscribe-invalid-note = If you keep getting mail you didn't ask for, reply to it and we'll remove you by hand.
unsubscribed-title = You're unsubscribed
unsubscribed-list = You won't get { $list } any more. Any other lists of { $newsletter } you are on keep coming; every email has a link to manage them.
unsubscribed-all = You won't get any more email from { $newsletter }.
changed-mind = Changed your mind?
sign-up-again-any-time = You can sign up again at any time.

## Preferences
preferences-title = Your subscription
preferences-for = For { $email }. Opening this page changed nothing; press Save to keep your changes.
preferences-saved = Your preferences are saved.
preferences-inactive = You unsubscribed from everything, so we send you nothing, whatever the lists.
preferences-your-lists = Your lists
preferences-pending = Your address is not confirmed yet: the lists you choose start once you press the link in the confirmation email.
preferences-language-hint = for the pages and emails we send you
save-button = Save
preferences-unsubscribe-heading = Unsubscribe from everything
preferences-unsubscribe-text = No more email from { $newsletter }, whatever the list.
preferences-data-heading = Your data
preferences-download = Download my data
preferences-download-text = (JSON): your address, name, lists, consent records and the emails we sent you.
preferences-erase = Erase me
preferences-erase-text = : delete everything we hold about you. We ask once more before anything happens.
erase-title = Erase your data?
erase-heading = Erase everything about you?
erase-text = We will delete { $email }, your name, your lists, your consent records and the record of every email we sent you. This cannot be undone, and the links in our emails to you will stop working.
erase-button = Yes, erase me
erase-back = Back to your subscription
erase-note = Opening this page changed nothing.
erased-title = Your data is erased
erased-text = We hold nothing about you any more, and you won't get email from { $newsletter }.
erased-note = If you had unsubscribed or your mail bounced, we keep only a one-way fingerprint of the address, so nobody can add it back without you signing up again.
preferences-invalid-text = It may be incomplete (copy the whole link from the email), too old, or your data has been erased.
preferences-invalid-note = Every email from { $newsletter } has a fresh "Manage your subscription" link. Nothing was changed.

## Error pages
error-back = Back to the signup page
error-unavailable = Temporarily unavailable
error-too-many = Too many requests
error-not-found = Page not found
error-internal = Something went wrong
error-failed = That didn't work
error-internal-text = Something went wrong on our side. Please try again later.
error-unavailable-text = The service is temporarily unavailable. Please try again in a minute.
error-too-many-text = Too many requests from your address. Please wait a minute and try again.
invalid-email = Please enter a valid email address.
invalid-name = Please shorten the name to one line of at most 100 characters.
invalid-lists = Choose at least one of the lists shown.
invalid-other = Please check what you entered.

## Archive
archive-title = Archive
archive-heading = Past issues of { $newsletter }
archive-every-list = Every list's issues
archive-empty = No issue has been sent yet.
archive-count = { $count ->
    [one] One issue on this page.
   *[other] { $count } issues on this page.
}
archive-pages = Pages of the archive
archive-newer = Newer issues
archive-older = Older issues
archive-feed = Atom feed
archive-subscribe-to = Subscribe to { $newsletter }
archive-all-issues = All issues
archive-next-by-mail = Get the next issue by email
archive-read-on = Read on in the archive
archive-too-long = : this issue is too long for the feed.
date = { $day } { $month } { $year }
month-1 = January
month-2 = February
month-3 = March
month-4 = April
month-5 = May
month-6 = June
month-7 = July
month-8 = August
month-9 = September
month-10 = October
month-11 = November
month-12 = December
