"""factory_boy factories for the models tests need most often."""

import factory

from accounts.models import Contact, Customer, CustomerAlias


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer
        django_get_or_create = ("external_id",)

    external_id = factory.Sequence(lambda n: f"cust-{n}")
    name = factory.Faker("company")
    email = factory.LazyAttribute(lambda o: f"billing@{o.external_id}.example")
    currency = "USD"
    timezone = "UTC"


class CustomerAliasFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerAlias

    customer = factory.SubFactory(CustomerFactory)
    alias = factory.Sequence(lambda n: f"alias-{n}")


class ContactFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Contact

    customer = factory.SubFactory(CustomerFactory)
    name = factory.Faker("name")
    email = factory.Faker("email")
